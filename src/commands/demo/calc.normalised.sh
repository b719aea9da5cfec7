# calc.sh: small arithmetic helpers, sourced by scripts and by test.sh.

# Read "+3" and "3" the same way.
normalise() {
    n=${1#+}
    echo "${n#-}"
}

add() { echo $(($(normalise "$1") + $(normalise "$2"))); }

mul() { echo $(($(normalise "$1") * $(normalise "$2"))); }
