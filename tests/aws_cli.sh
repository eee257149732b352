# aws_cli.sh - what the AWS channels' command-line tests (cli_sqs.sh,
# cli_sns.sh, cli_s3.sh, cli_s3_paths.sh) share; source it after setting
# sdsinf (the tool) and tmp (a scratch directory), under tests/with_aws.sh.

aws_cli_proxy=$(dirname "${BASH_SOURCE[0]}")/aws_throttle_proxy.py

# aws_fail MESSAGE...: the test fails, saying why.
aws_fail() {
    echo "FAIL: $*"
    exit 1
}

# throttled_open LABEL TEXT RUN_ARGS...: `sdsinf run RUN_ARGS --json`
# through aws_throttle_proxy.py refusing every 2nd request whose path or
# body holds TEXT (one a channel makes as it opens) must succeed with
# every retry counted: its JSON's retries equal the refused requests.
# The JSON stays in $tmp/throttled.json.
throttled_open() {
    local label=$1 text=$2 refused retries
    shift 2
    AWS_MAX_ATTEMPTS=10 python3 "$aws_cli_proxy" --every 2 --only "$text" \
        --stats "$tmp/proxy" -- "$sdsinf" run "$@" --json |
        tail -n 1 >"$tmp/throttled.json" || aws_fail "$label: the run failed"
    refused=$(grep -o '"refused": [0-9]*' "$tmp/proxy" | cut -d' ' -f2)
    retries=$(grep -o '"retries":[0-9]*' "$tmp/throttled.json" | head -n 1 | cut -d: -f2)
    [ "${refused:-0}" -gt 0 ] || aws_fail "$label: no request held $text"
    [ "$retries" = "$refused" ] ||
        aws_fail "$label: $refused requests refused, $retries retries counted"
    echo "ok: $label: $refused of the requests holding $text refused, each retry counted"
}

# alive PID: the process is there and not a zombie.
alive() {
    local s
    s=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ "$s" != Z ]
}

# kill_coordinator LABEL HELD RUN_ARGS...: `sdsinf run RUN_ARGS`, in a
# scratch directory of its own, killed with SIGKILL (nothing of it cleans
# up) once its owner record is written, HELD (a command printing what the
# emulator holds of the run, nothing when none) prints something and a
# second has passed; its workers die with it.  What it made must still be
# there; `sdsinf clean --json` (its output in $tmp/clean) must remove
# that run and leave HELD printing nothing and the scratch directory
# empty.
kill_coordinator() {
    local label=$1 held=$2 scratch pid kids k i left=
    shift 2
    scratch=$(mktemp -d)
    SDSINF_SCRATCH=$scratch "$sdsinf" run "$@" >/dev/null 2>"$tmp/killed.err" &
    pid=$!
    for i in $(seq 600); do
        if compgen -G "$scratch/sdsinf-*/*.owner" >/dev/null &&
           [ -n "$($held)" ]; then
            break
        fi
        alive "$pid" || { cat "$tmp/killed.err"; aws_fail "$label: the run ended first"; }
        sleep 0.05
    done
    sleep 1
    kids=$(pgrep -P "$pid" || true)
    alive "$pid" ||
        { cat "$tmp/killed.err"; aws_fail "$label: the run ended before it could be killed"; }
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        left=
        for k in $kids; do alive "$k" && left=$k; done
        [ -z "$left" ] && break
        sleep 0.1
    done
    [ -z "$left" ] || aws_fail "$label: worker process $left outlived its coordinator"
    [ -n "$($held)" ] || aws_fail "$label: the killed run left nothing to remove"
    SDSINF_SCRATCH=$scratch "$sdsinf" clean --json >"$tmp/clean" ||
        { cat "$tmp/clean"; aws_fail "$label: sdsinf clean failed"; }
    grep -q '"runs":1,' "$tmp/clean" || { cat "$tmp/clean"; aws_fail "$label: clean removed no run"; }
    [ -z "$($held)" ] || { $held; aws_fail "$label: sdsinf clean left that"; }
    [ -z "$(ls -A "$scratch")" ] || aws_fail "$label: clean left files in $scratch"
    rmdir "$scratch"
    echo "ok: $label: $(grep -o '"removed":\[[^]]*\]' "$tmp/clean")"
}
