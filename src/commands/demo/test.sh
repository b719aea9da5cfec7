#!/bin/sh
# Tests of calc.sh, printed in TAP (the Test Anything Protocol that bats and prove
# print). Exits with the number of failed tests.
. ./calc.sh

count=0
failed=0
check() {
    count=$((count + 1))
    if [ "$2" = "$3" ]; then
        echo "ok $count - $1"
    else
        failed=$((failed + 1))
        echo "not ok $count - $1"
        echo "  ---"
        echo "  message: expected $3, got $2"
        echo "  at: test.sh:$4"
        echo "  ..."
    fi
}

echo "TAP version 13"
echo "1..4"
check "add sums two numbers" "$(add 2 3)" 5 24
check "add handles negative numbers" "$(add -2 1)" -1 25
check "mul multiplies" "$(mul 3 4)" 12 26
check "mul keeps the sign" "$(mul -3 4)" -12 27
echo "# tests $count, pass $((count - failed)), fail $failed"
exit "$failed"
