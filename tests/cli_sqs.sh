#!/usr/bin/env bash
# cli_sqs.sh SDSINF DATA - `sdsinf run --channel sqs` against the private
# emulator tests/with_aws.sh starts ($AWS_ENDPOINT_URL): distributed runs
# on local processes and threads equal `sdsinf infer` (categories and
# every score) and leave no queue; a worker killed mid-run and a run that
# fails on a bad option leave no queue either, and a coordinator killed
# mid-run (SIGKILL) leaves its queues to `sdsinf clean`, which removes
# them; a throttled open (every 2nd GetQueueUrl refused) has each retry
# counted; a run without a price table says its cost is unknown; bad settings fail with a clear error.  With SDSINF_SQS_REAL=1 and the shared data, the real 6,000
# images on 8 workers (hypergraph plan) reproduce the golden categories,
# and the run's requests are printed.  with_aws.sh then checks that the
# emulator holds nothing at all.
set -eu
sdsinf=$1 data=$2
. "$(dirname "$0")/aws_cli.sh"
queues() { # the emulator's queue URLs
    curl -s -X POST "$AWS_ENDPOINT_URL/" \
        --aws-sigv4 "aws:amz:$AWS_REGION:sqs" \
        -u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -d 'Action=ListQueues&Version=2012-11-05' |
        grep -o '<QueueUrl>[^<]*' | sed 's/<QueueUrl>//' || true
}
no_queues() { # label
    local q
    q=$(queues)
    [ -z "$q" ] || { echo "FAIL: $1 left queues:"; echo "$q" | head; exit 1; }
}
small_network
check() { # label, run arguments...
    local label=$1; shift
    local t0=$(date +%s.%N)
    "$sdsinf" run --weights "$tmp/g" --images "$img" --scores "$tmp/s.tsv" \
        --out "$tmp/cats.tsv" --channel sqs "$@" --json | tail -n 1 >"$tmp/j"
    cmp "$tmp/s.tsv" "$tmp/single.tsv" || { echo "FAIL: $label: scores differ"; exit 1; }
    cmp "$tmp/cats.tsv" "$tmp/single-cats.tsv" || { echo "FAIL: $label: categories differ"; exit 1; }
    grep -q '"channel":"sqs"' "$tmp/j"
    no_queues "$label"
    echo "ok: $label ($(echo "$(date +%s.%N) - $t0" | bc) s): $(grep -o '"requests":{[^}]*}' "$tmp/j")"
}
for w in 1 3 8; do
    check "W=$w local processes" --workers $w
done
check "W=6 threads" --workers 6 --launcher threads
check "4 x 2 levels, batches, own settings" --workers 20 --bfr 4 --nlevels 2 \
    --batch-size 16 --channel-config "prefix=sdsinf-test,visibility=120,wait=5"
check "chunks of 20 KiB" --workers 4 --max-message 20000
# no price table: the summary says the cost is unknown and how to price it
SDSINF_PRICES=$tmp/none "$sdsinf" run --weights "$tmp/g" --images "$img" \
    --channel sqs --workers 2 >"$tmp/sum" 2>&1
grep -q "^cost unknown: .*sdsinf cost RUN.json --prices FILE" "$tmp/sum" &&
    ! grep -q 'cost \$' "$tmp/sum" || { cat "$tmp/sum"; echo "FAIL: no price table"; exit 1; }
no_queues "no price table"
echo "ok: no price table: $(grep '^cost' "$tmp/sum")"

echo "== throttled: every 5th request refused (503 SlowDown, 400 Throttling)"
throttled_run sqs 3 no_queues

echo "== a throttled open: every 2nd GetQueueUrl (the workers find their queues) refused"
throttled_open sqs Action=GetQueueUrl
no_queues "the throttled open"

echo "== the coordinator killed mid-run (SIGKILL), then sdsinf clean"
kill_mid_run sqs queues 5 # the workers' queues and the coordinator's

echo "== a worker killed at layer 3"
killed_worker sqs no_queues

echo "== bad settings"
via=() # a command fails runs sdsinf through, if any
fails() { # label, text the error must hold, run arguments...
    local label=$1 want=$2; shift 2
    if "${via[@]}" "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 2 --channel sqs \
            --timeout-ms 5000 "$@" 2>"$tmp/err" >/dev/null; then
        echo "FAIL: $label: the run succeeded"; exit 1
    fi
    grep -q -- "$want" "$tmp/err" || { echo "FAIL: $label:"; cat "$tmp/err"; exit 1; }
    no_queues "$label"
    echo "ok: $label: $(head -c 300 "$tmp/err")"
}
fails "bad setting" "bad setting 'prefix=no space'" --channel-config "prefix=no space"
fails "unknown setting" "bad setting 'colour=red'" --channel-config "colour=red"
fails "a stack's queues that are not there" "the stack has no queue" \
    --channel-config "queues=sdsinf-test-nostack"
AWS_ENDPOINT_URL=http://127.0.0.1:1 AWS_MAX_ATTEMPTS=2 \
    fails "no endpoint" "set AWS_ENDPOINT_URL"
AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= fails "no credentials" "no credentials"
# every request answered 300 ms late, past the 100 ms a worker waits: a
# receive cannot be answered in time (a 1 ms timeout could be: a short
# poll takes its answer, which may hold the message)
via=(python3 "$(dirname "$0")/aws_throttle_proxy.py" --delay-ms 300 --)
fails "workers that time out" "no message" --timeout-ms 100
via=()

gc=$data/graphchallenge
if [ "${SDSINF_SQS_REAL:-0}" = 1 ] && [ -d "$gc/neuron1024" ]; then
    echo "== the real 1024 x 120 network, 6,000 images, 8 workers, over sqs"
    "$sdsinf" partition --weights "$gc/neuron1024" --workers 8 --out "$tmp/plan" >/dev/null
    t0=$(date +%s.%N)
    "$sdsinf" run --weights "$gc/neuron1024" --images "$gc/sparse-images-1024-first6000.tsv" \
        --plan "$tmp/plan" --channel sqs \
        --check "$gc/neuron1024-l120-categories-first6000.tsv" \
        --json | tail -n 1 | tee "$tmp/j"
    echo "real run: $(echo "$(date +%s.%N) - $t0" | bc) s"
    grep -q '"check":"pass"' "$tmp/j"
    no_queues "the real run"
else
    echo "SKIP (real data): SDSINF_SQS_REAL=1 and $gc needed"
fi
echo PASS
