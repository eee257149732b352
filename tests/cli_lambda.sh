#!/usr/bin/env bash
# cli_lambda.sh SDSINF - the sdsinf executable as a Lambda bootstrap, served
# by the tests' Runtime API (lambda_runtime_api.py): workers of `sdsinf run
# --launcher external` as invocations ({"worker_spec": TEXT}) reproduce
# `sdsinf infer` bit for bit, the second run of the same plan served warm
# without loading it again; a coordinator's invocation ({"run": {...}})
# answers the run's JSON; bad events are invocation errors
# (sdsinf.EPARSE) and the loop goes on; a worker whose deadline comes
# first answers sdsinf.ETIMEDOUT naming it, before the deadline, and the
# next invocation is served; an answer the API refuses (400) is logged and
# the loop goes on; a bad _HANDLER is an init error.  The bootstrap is
# executed by a process holding 256 MB first, as ministack's interpreter
# is: the worker's peak_mb is its own (VmHWM), not that process's.  Prints
# the cold start (process start to the first `next`).
set -eu
sdsinf=$1
if AWS_LAMBDA_RUNTIME_API= "$sdsinf" lambda-runtime 2>&1 | grep -q ENOTSUP; then
    echo "SKIP: this build has no libcurl for the Runtime API"; exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
api="python3 $here/lambda_runtime_api.py"
tmp=$(mktemp -d)
trap 'j=$(jobs -p); [ -z "$j" ] || kill $j 2>/dev/null; wait; rm -rf "$tmp"' EXIT
export SDSINF_SCRATCH=$tmp/scratch
mkdir "$SDSINF_SCRATCH" "$tmp/ev"
fail() { echo "FAIL: $*"; [ -f "$tmp/log" ] && tail -n 20 "$tmp/log"; exit 1; }
# field FILE EXPR: a value of the result, by a Python expression over r
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }
# event NAME PAYLOAD_JSON [DEADLINE_MS [ANSWERED]]
event() {
    python3 -c "import json,sys; json.dump({'payload': json.loads(sys.argv[2]), 'deadline_ms': int(sys.argv[3]), 'answered': sys.argv[4] == '1'}, open(sys.argv[1] + '.tmp', 'w'))" \
        "$tmp/ev/$1.json" "$2" "${3:-30000}" "${4:-0}"
    mv "$tmp/ev/$1.json.tmp" "$tmp/ev/$1.json"
}
# spec_event NAME SPECFILE [DEADLINE_MS]: a worker's event from its spec
spec_event() {
    event "$1" "$(python3 -c "import json,sys; print(json.dumps({'worker_spec': open(sys.argv[1]).read()}))" "$2")" "${3:-30000}"
}
# wait_specs DIR N
wait_specs() {
    for _ in $(seq 600); do
        [ "$(ls "$1" 2>/dev/null | grep -c '^worker-[0-9]*\.spec$')" = "$2" ] && return 0
        sleep 0.1
    done
    fail "no specs in $1"
}

"$sdsinf" generate --neurons 128 --layers 8 --images 60 --seed 5 --out "$tmp/g" >/dev/null
img=$tmp/g/sparse-images-128.tsv
"$sdsinf" infer --weights "$tmp/g" --images "$img" --scores "$tmp/single.tsv" --quiet
"$sdsinf" partition --weights "$tmp/g" --workers 1 --out "$tmp/plan1" >/dev/null
"$sdsinf" partition --weights "$tmp/g" --workers 2 --out "$tmp/plan2" >/dev/null

echo "== workers as invocations, warm, errors, a deadline, a refused answer"
# the runtime started as a Lambda emulator starts it: exec'd by a process
# that held far more than a worker (ru_maxrss keeps that across exec)
ballast="import os, sys; b = bytearray(256 << 20); os.execv(sys.argv[1], sys.argv[1:])"
$api --events "$tmp/ev" --count 9 --timeout 120 --out "$tmp/r.json" -- \
    python3 -c "$ballast" "$sdsinf" lambda-runtime 2>"$tmp/log" &
server=$!
run_external() { # NAME PLAN SCORES [run args]: a run whose worker is an event
    local name=$1 plan=$2 scores=$3
    shift 3
    timeout 120 "$sdsinf" run --launcher external --specs-out "$tmp/specs-$name" \
        --weights "$tmp/g" --images "$img" --plan "$plan" --scores "$scores" \
        "$@" >"$tmp/out-$name" 2>"$tmp/err-$name" &
    run=$!
}
run_external a "$tmp/plan1" "$tmp/s1.tsv" --json; r1=$run
wait_specs "$tmp/specs-a" 1
spec_event 1 "$tmp/specs-a/worker-0.spec"
wait "$r1" || { cat "$tmp/err-a"; fail "the first run"; }
run_external b "$tmp/plan1" "$tmp/s2.tsv"; r2=$run
wait_specs "$tmp/specs-b" 1
spec_event 2 "$tmp/specs-b/worker-0.spec"
wait "$r2" || { cat "$tmp/err-b"; fail "the second run"; }
event 3 '"not an object"'
event 4 '{"worker_spec": "sdsinf-worker-spec 1\nrun 1\n"}'
event 5 '{"answered": "already"}' 30000 1
# a 2-worker run whose worker 1 never comes: worker 0 waits past its deadline
run_external c "$tmp/plan2" "$tmp/s3.tsv" --start-timeout-ms 4000 --timeout-ms 4000; r3=$run
wait_specs "$tmp/specs-c" 2
spec_event 6 "$tmp/specs-c/worker-0.spec" 2500
event 7 "{\"run\": {\"weights\": \"$tmp/g\", \"images\": \"$img\", \"workers\": 2, \"launcher\": \"local\", \"scores\": \"$tmp/s4.tsv\"}}"
event 8 '{"run": {"weights": "/nonexistent", "images": "/nonexistent", "workers": 2}}'
event 9 '{"run": {"BAD KEY": 1}}'
wait "$server" || fail "the Runtime API"
wait "$r3" && fail "the run without its worker 1 succeeded"
[ "$(field "$tmp/r.json" "r['timed_out']")" = False ] || fail "not every event answered in time"
cmp "$tmp/s1.tsv" "$tmp/single.tsv" || fail "the first run's scores differ from infer's"
cmp "$tmp/s2.tsv" "$tmp/single.tsv" || fail "the warm run's scores differ from infer's"
cmp "$tmp/s4.tsv" "$tmp/single.tsv" || fail "the coordinator's scores differ from infer's"
inv() { field "$tmp/r.json" "[i for i in r['invocations'] if i['file'] == '$1.json'][0]$2"; }
body() { inv "$1" "['body']"; }
[ "$(inv 1 "['kind']")" = response ] && body 1 | grep -q '"loaded":true,"loads":1' ||
    fail "the first worker: $(body 1)"
[ "$(inv 2 "['kind']")" = response ] && body 2 | grep -q '"loaded":false,"loads":1' ||
    fail "the warm worker loaded again: $(body 2)"
echo "ok: 2 runs' workers as invocations equal infer; the second warm: $(body 2)"
tail -n 1 "$tmp/out-a" >"$tmp/a.j"
[ "$(field "$tmp/a.j" "0 < r['peak_mb'] < 64")" = True ] ||
    fail "the worker's peak_mb $(field "$tmp/a.j" "r.get('peak_mb')") MB: its parent's 256 MB, not its own"
echo "ok: the worker's own peak, $(field "$tmp/a.j" "r['peak_mb']") MB (its parent held 256 MB)"
for e in 3 4; do
    [ "$(inv $e "['error_type']")" = sdsinf.EPARSE ] || fail "event $e: $(body $e)"
done
body 4 | grep -q "line" || fail "a bad spec's error names no line: $(body 4)"
echo "ok: bad events are invocation errors: $(body 4)"
[ "$(inv 5 "['refused']")" = 1 ] && grep -q "HTTP 400" "$tmp/log" || fail "the refused answer"
echo "ok: an answer refused with 400 is logged, and the loop goes on"
[ "$(inv 6 "['error_type']")" = sdsinf.ETIMEDOUT ] && body 6 | grep -q "deadline" ||
    fail "the deadline: $(body 6)"
[ "$(inv 6 "['answered_ms']")" -lt 2500 ] || fail "answered after the deadline: $(inv 6 "['answered_ms']") ms"
echo "ok: a worker past its deadline answers in $(inv 6 "['answered_ms']") ms of 2500: $(body 6)"
[ "$(inv 7 "['kind']")" = response ] && body 7 | python3 -c "import json,sys; assert json.load(sys.stdin)['workers'] == 2" ||
    fail "the coordinator: $(body 7)"
[ "$(inv 8 "['error_type']")" = sdsinf.EIO ] && body 8 | grep -q nonexistent || fail "a failed run: $(body 8)"
[ "$(inv 9 "['error_type']")" = sdsinf.EINVAL ] || fail "a bad option: $(body 9)"
echo "ok: a coordinator's invocation answers the run; its failures are errors: $(body 8)"
echo "cold start (process start to the first next): $(field "$tmp/r.json" "r['cold_start_ms']") ms"
[ -z "$(find "$SDSINF_SCRATCH" -mindepth 1)" ] || { find "$SDSINF_SCRATCH"; fail "files left"; }

echo "== init error: a bad _HANDLER"
rm -f "$tmp"/ev/*
event 1 '{}'
_HANDLER=nonsense $api --events "$tmp/ev" --count 1 --timeout 30 --out "$tmp/i.json" -- \
    "$sdsinf" 2>"$tmp/log"
[ "$(field "$tmp/i.json" "r['init_error']['error_type']")" = sdsinf.EINVAL ] &&
    [ "$(field "$tmp/i.json" "r['exit']")" = 1 ] &&
    [ "$(field "$tmp/i.json" "len(r['invocations'])")" = 0 ] || fail "init error: $(cat "$tmp/i.json")"
echo "ok: init error: $(field "$tmp/i.json" "r['init_error']['body']")"
$api --self-test
