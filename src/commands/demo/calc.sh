# calc.sh: small arithmetic helpers, sourced by scripts and by test.sh.

add() { echo $(($1 + $2)); }

mul() { echo $(($1 * $2)); }
