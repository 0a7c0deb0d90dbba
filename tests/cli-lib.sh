# SPDX-License-Identifier: MIT
# Helpers for command-line tests: source this, call check/check_output, end with finish.
# $RINGCTL is the built ringctl; $RK_TEST_SRCDIR the source tree.
: "${RINGCTL:?RINGCTL not set}"
: "${RK_TEST_SRCDIR:=.}"
_passed=0
_failed=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# ok NAME  /  fail NAME MESSAGE
ok() { echo "ok   $1"; _passed=$((_passed + 1)); }
fail() { echo "FAIL $1: $2" >&2; echo "FAIL $1"; _failed=$((_failed + 1)); }

# expect_rc NAME WANT_RC CMD...   (stdout+stderr into $TMP/out)
expect_rc() {
        local name=$1 want=$2
        shift 2
        "$@" >"$TMP/out" 2>&1
        local rc=$?
        if [ "$rc" -eq "$want" ]; then ok "$name"; else fail "$name" "exit $rc, wanted $want; output: $(head -c 2000 "$TMP/out")"; fi
}

# expect_grep NAME PATTERN  (in $TMP/out, extended regex)
expect_grep() {
        if grep -Eq -- "$2" "$TMP/out"; then ok "$1"; else fail "$1" "no /$2/ in: $(head -c 2000 "$TMP/out")"; fi
}
expect_no_grep() {
        if grep -Eq -- "$2" "$TMP/out"; then fail "$1" "unexpected /$2/ in: $(head -c 2000 "$TMP/out")"; else ok "$1"; fi
}

# wait_for SECONDS COMMAND...: poll every 0.1 s until the command succeeds
wait_for() {
        local limit=$(($1 * 10)) n=0
        shift
        while ! "$@" >/dev/null 2>&1; do
                n=$((n + 1))
                [ $n -ge $limit ] && return 1
                sleep 0.1
        done
}

finish() {
        echo "$_passed passed, $_failed failed"
        [ "$_failed" -eq 0 ]
}
