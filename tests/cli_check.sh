# cli_check.sh - what the command-line tests share; source it after setting
# tmp (a scratch directory) and failures=0.

# check WANT_EXIT TEXT WHAT COMMAND...: COMMAND must exit WANT_EXIT and,
# when TEXT is not empty, print TEXT (a fixed string) on stdout or stderr;
# its output stays in $tmp/stdout and $tmp/stderr.  Returns 0 when it did.
check() {
    local want=$1 text=$2 what=$3
    shift 3
    "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: $what: exit $got, want $want"
    elif [ -n "$text" ] && ! grep -qF -- "$text" "$tmp/stdout" "$tmp/stderr"; then
        echo "FAIL: $what: no '$text' in the output"
    else
        echo "ok:   $what (exit $got${text:+, '$text'})"
        return 0
    fi
    sed 's/^/    | /' "$tmp/stdout" "$tmp/stderr"
    failures=$((failures + 1))
    return 1
}

# expect WHAT CONDITION...: a test(1) condition that must hold.
expect() {
    local what=$1
    shift
    if [ "$@" ]; then
        echo "ok:   $what"
    else
        echo "FAIL: $what ($*)"
        failures=$((failures + 1))
    fi
}
