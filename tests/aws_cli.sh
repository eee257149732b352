# aws_cli.sh - what the AWS channels' command-line tests (cli_sqs.sh,
# cli_sns.sh, cli_s3.sh, cli_s3_paths.sh) share: aws_test.sh's preamble
# (sourced here: tmp, fail, small_network...) and the functions below;
# source it after setting sdsinf (the tool), under tests/with_aws.sh.
# throttled_open and kill_mid_run run small_network's network in $tmp/g,
# whose scores are in $tmp/single.tsv.
. "$(dirname "${BASH_SOURCE[0]}")/aws_test.sh"

aws_cli_proxy=$(dirname "${BASH_SOURCE[0]}")/aws_throttle_proxy.py

# throttled_open CHANNEL TEXT: a run of 3 workers on CHANNEL through
# aws_throttle_proxy.py refusing every 2nd request whose path or body
# holds TEXT (one the channel makes as it opens) must equal infer with
# every retry counted: its JSON's retries equal the refused requests.
throttled_open() {
    local text=$2 refused retries
    AWS_MAX_ATTEMPTS=10 python3 "$aws_cli_proxy" --every 2 --only "$text" \
        --stats "$tmp/proxy" -- "$sdsinf" run --weights "$tmp/g" \
        --images "$tmp/g/sparse-images-128.tsv" --scores "$tmp/throttled.tsv" \
        --workers 3 --channel "$1" --json |
        tail -n 1 >"$tmp/throttled.json" || fail "throttled open: the run failed"
    cmp "$tmp/throttled.tsv" "$tmp/single.tsv" || fail "throttled open: scores differ"
    refused=$(grep -o '"refused": [0-9]*' "$tmp/proxy" | cut -d' ' -f2)
    retries=$(grep -o '"retries":[0-9]*' "$tmp/throttled.json" | head -n 1 | cut -d: -f2)
    [ "${refused:-0}" -gt 0 ] || fail "throttled open: no request held $text"
    [ "$retries" = "$refused" ] ||
        fail "throttled open: $refused requests refused, $retries retries counted"
    echo "ok: throttled open: $refused of the requests holding $text refused, each retry counted"
}

# throttled_run CHANNEL WORKERS LEFT: a run of WORKERS workers on CHANNEL
# through aws_throttle_proxy.py refusing every 5th request (503 SlowDown,
# 400 Throttling) must equal infer (scores and categories) with retries
# counted, and then `LEFT LABEL` (the test's check that the emulator holds
# nothing of the run) pass.
throttled_run() {
    local retries
    AWS_MAX_ATTEMPTS=10 python3 "$aws_cli_proxy" --every 5 \
        --stats "$tmp/proxy" -- "$sdsinf" run --weights "$tmp/g" --images "$img" \
        --scores "$tmp/s.tsv" --out "$tmp/cats.tsv" --workers "$2" --channel "$1" --json |
        tail -n 1 >"$tmp/j"
    cmp "$tmp/s.tsv" "$tmp/single.tsv" || fail "throttled: scores differ"
    cmp "$tmp/cats.tsv" "$tmp/single-cats.tsv" || fail "throttled: categories differ"
    retries=$(grep -o '"retries":[0-9]*' "$tmp/j" | head -n 1 | cut -d: -f2)
    [ "${retries:-0}" -gt 0 ] || fail "no retry counted: $(cat "$tmp/j")"
    $3 "the throttled run"
    echo "ok: throttled run: $(cat "$tmp/proxy"), $retries retries counted: $(grep -o '"requests":{[^}]*}' "$tmp/j")"
}

# killed_worker CHANNEL LEFT: a run of 6 workers on CHANNEL whose worker 2
# is killed at layer 3 must fail within 40 s naming it, leave no process
# behind, and then `LEFT LABEL` pass.
killed_worker() {
    local start
    start=$(date +%s)
    if SDSINF_TEST_KILL=2:3 "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 6 \
            --channel "$1" --timeout-ms 5000 2>"$tmp/err"; then
        fail "the run succeeded"
    fi
    grep -q "worker 2 died" "$tmp/err" || { cat "$tmp/err"; fail "the run did not name the killed worker"; }
    [ $(( $(date +%s) - start )) -le 40 ] || fail "the killed run took over 40 s"
    sleep 0.2
    if pgrep -f "$tmp/g" >/dev/null; then fail "processes left behind"; fi
    $2 "the killed run"
    echo "ok: killed run"
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
        alive "$pid" || { cat "$tmp/killed.err"; fail "$label: the run ended first"; }
        sleep 0.05
    done
    sleep 1
    kids=$(pgrep -P "$pid" || true)
    alive "$pid" ||
        { cat "$tmp/killed.err"; fail "$label: the run ended before it could be killed"; }
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        left=
        for k in $kids; do alive "$k" && left=$k; done
        [ -z "$left" ] && break
        sleep 0.1
    done
    [ -z "$left" ] || fail "$label: worker process $left outlived its coordinator"
    [ -n "$($held)" ] || fail "$label: the killed run left nothing to remove"
    SDSINF_SCRATCH=$scratch "$sdsinf" clean --json >"$tmp/clean" ||
        { cat "$tmp/clean"; fail "$label: sdsinf clean failed"; }
    grep -q '"runs":1,' "$tmp/clean" || { cat "$tmp/clean"; fail "$label: clean removed no run"; }
    [ -z "$($held)" ] || { $held; fail "$label: sdsinf clean left that"; }
    [ -z "$(ls -A "$scratch")" ] || fail "$label: clean left files in $scratch"
    rmdir "$scratch"
    echo "ok: $label: $(grep -o '"removed":\[[^]]*\]' "$tmp/clean")"
}

# kill_mid_run CHANNEL HELD ITEMS: kill_coordinator on a run of 4 workers
# on CHANNEL, in batches of 2 images through 64 layers (long enough to be
# caught mid-way); clean must say it removed ITEMS (a pattern) of the
# channel's.
kill_mid_run() {
    [ -d "$tmp/long" ] ||
        "$sdsinf" generate --neurons 128 --layers 64 --images 60 --seed 5 \
            --out "$tmp/long" >/dev/null
    kill_coordinator "killed coordinator" "$2" --weights "$tmp/long" \
        --images "$tmp/long/sparse-images-128.tsv" --workers 4 --batch-size 2 \
        --channel "$1"
    grep -q "\"channel\":\"$1\",\"items\":$3" "$tmp/clean" ||
        { cat "$tmp/clean"; fail "clean did not remove the run's $3 items"; }
}
