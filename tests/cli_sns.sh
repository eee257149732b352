#!/usr/bin/env bash
# cli_sns.sh SDSINF DATA - `sdsinf run --channel sns` against the private
# emulator tests/with_aws.sh starts ($AWS_ENDPOINT_URL): runs on local
# processes and threads, and through a proxy refusing every 5th request
# (tests/aws_throttle_proxy.py: retries counted), equal `sdsinf infer`
# (categories and every score) and leave no queue, topic or subscription, also after a killed worker,
# a failed run and a run whose given topic does not exist (it fails as it
# makes its subscriptions); a coordinator killed mid-run (SIGKILL) leaves
# them to `sdsinf clean`, which removes them; a throttled open (every 2nd
# GetQueueUrl refused) has each retry counted;
# two runs at once on one existing topic (topic=ARN) do not disturb each
# other and leave the topic as it was.  With SDSINF_SNS_REAL=1 and the
# shared data, the real 6,000 images on 8 workers (hypergraph plan)
# reproduce the golden categories and the run's requests are printed.
set -eu
sdsinf=$1 data=$2
. "$(dirname "$0")/aws_cli.sh"
aws() { # service, form: the answer
    curl -s -X POST "$AWS_ENDPOINT_URL/" --aws-sigv4 "aws:amz:$AWS_REGION:$1" \
        -u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -d "$2"
}
held() { # what the emulator holds: queues, topics, subscriptions
    aws sqs 'Action=ListQueues&Version=2012-11-05' | grep -o '<QueueUrl>[^<]*' || true
    aws sns 'Action=ListTopics&Version=2010-03-31' | grep -o '<TopicArn>[^<]*' || true
    aws sns 'Action=ListSubscriptions&Version=2010-03-31' |
        grep -o '<SubscriptionArn>[^<]*' || true
}
left() { # label, what may stay
    local h
    h=$(held | grep -v -x -F "${2:-none}" || true)
    [ -z "$h" ] || { echo "FAIL: $1 left:"; echo "$h" | head; exit 1; }
}
small_network
run() { # tag, run arguments...: a run's scores into $tmp/TAG.tsv, JSON $tmp/TAG.j
    local tag=$1; shift
    "$sdsinf" run --weights "$tmp/g" --images "$img" --scores "$tmp/$tag.tsv" \
        --out "$tmp/$tag-cats.tsv" --channel sns "$@" --json | tail -n 1 >"$tmp/$tag.j"
}
same() { # label, tag
    cmp "$tmp/$2.tsv" "$tmp/single.tsv" || { echo "FAIL: $1: scores differ"; exit 1; }
    cmp "$tmp/$2-cats.tsv" "$tmp/single-cats.tsv" || { echo "FAIL: $1: categories differ"; exit 1; }
    grep -q '"channel":"sns"' "$tmp/$2.j"
}
check() { # label, run arguments...
    local label=$1; shift
    local t0=$(date +%s.%N)
    run one "$@"
    same "$label" one
    left "$label"
    echo "ok: $label ($(echo "$(date +%s.%N) - $t0" | bc) s): $(grep -o '"requests":{[^}]*}' "$tmp/one.j") $(grep -o '"cost_usd":[^,]*' "$tmp/one.j")"
}
for w in 1 3 8; do
    check "W=$w local processes" --workers $w
done
check "W=6 threads" --workers 6 --launcher threads
check "4 x 2 levels, batches, own settings" --workers 20 --bfr 4 --nlevels 2 \
    --batch-size 16 --channel-config "prefix=sdsinf-test,visibility=120,wait=5"
check "chunks of 20 KiB" --workers 4 --max-message 20000

echo "== throttled: every 5th request refused (503 SlowDown, 400 Throttling)"
throttled_run sns 4 left

echo "== a throttled open: every 2nd GetQueueUrl (the workers find their queues) refused"
throttled_open sns Action=GetQueueUrl
left "the throttled open"

echo "== the coordinator killed mid-run (SIGKILL), then sdsinf clean"
kill_mid_run sns held 11 # 5 queues, their subscriptions and the topic

echo "== two runs at once on one existing topic"
topic=$(aws sns 'Action=CreateTopic&Version=2010-03-31&Name=sdsinf-shared' |
    grep -o '<TopicArn>[^<]*' | sed 's/<TopicArn>//')
[ -n "$topic" ] || { echo "FAIL: could not make a topic"; exit 1; }
run a --workers 4 --channel-config "topic=$topic" &
pa=$!
run b --workers 3 --launcher threads --channel-config "topic=$topic" &
pb=$!
wait $pa || { echo "FAIL: the first run failed"; exit 1; }
wait $pb || { echo "FAIL: the second run failed"; exit 1; }
same "first of two at once" a
same "second of two at once" b
left "two runs at once" "<TopicArn>$topic"
aws sns "Action=DeleteTopic&Version=2010-03-31&TopicArn=$topic" >/dev/null
echo "ok: two runs at once on $topic, the topic kept"

echo "== a worker killed at layer 3"
killed_worker sns left

echo "== bad settings"
if "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 2 --channel sns \
        --channel-config "topic=not-an-arn" 2>"$tmp/err" >/dev/null; then
    echo "FAIL: a bad topic was taken"; exit 1
fi
grep -q "bad setting 'topic=not-an-arn'" "$tmp/err" || { cat "$tmp/err"; exit 1; }
left "a bad setting"
echo "ok: $(head -c 300 "$tmp/err")"
if "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 3 --channel sns \
        --channel-config "topic=arn:aws:sns:$AWS_REGION:000000000000:sdsinf-absent" \
        2>"$tmp/err" >/dev/null; then
    echo "FAIL: a topic that does not exist was taken"; exit 1
fi
grep -q "Topic does not exist" "$tmp/err" || { cat "$tmp/err"; exit 1; }
left "a topic that does not exist"
echo "ok: $(head -c 300 "$tmp/err")"

echo "== a run that fails once its resources are made"
# (a 1 ms wait fails unless every message happens to be in already: up to
# three tries)
failed=0
for _ in 1 2 3; do
    if ! "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 3 \
            --channel sns --timeout-ms 1 2>"$tmp/err" >/dev/null; then
        failed=1; break
    fi
done
[ "$failed" = 1 ] || { echo "FAIL: workers that time out succeeded, 3 times"; exit 1; }
grep -q "no message" "$tmp/err" || { cat "$tmp/err"; exit 1; }
left "the failed run"
echo "ok: failed run: $(head -c 200 "$tmp/err")"

gc=$data/graphchallenge
if [ "${SDSINF_SNS_REAL:-0}" = 1 ] && [ -d "$gc/neuron1024" ]; then
    echo "== the real 1024 x 120 network, 6,000 images, 8 workers, over sns"
    "$sdsinf" partition --weights "$gc/neuron1024" --workers 8 --out "$tmp/plan" >/dev/null
    t0=$(date +%s.%N)
    "$sdsinf" run --weights "$gc/neuron1024" --images "$gc/sparse-images-1024-first6000.tsv" \
        --plan "$tmp/plan" --channel sns ${SDSINF_SNS_REAL_ARGS:-} \
        --check "$gc/neuron1024-l120-categories-first6000.tsv" \
        --json | tail -n 1 | tee "$tmp/j"
    echo "real run: $(echo "$(date +%s.%N) - $t0" | bc) s"
    grep -q '"check":"pass"' "$tmp/j"
    left "the real run"
else
    echo "SKIP (real data): SDSINF_SNS_REAL=1 and $gc needed"
fi
echo PASS
