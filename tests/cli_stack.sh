#!/usr/bin/env bash
# cli_stack.sh SDSINF - a deployed stack end to end against the private
# ministack tests/with_aws.sh starts (its CloudFormation: moto's skips
# subscriptions and policies): sdsinf aws deploy --no-function (the
# channels' part: cli_deploy.sh deploys the function) makes every
# resource the template lists; runs with --stack on sqs, sns and s3 equal `sdsinf
# infer` (categories and every score); two runs at once on the stack's
# shared queues and bucket (sqs, sns, s3) and three (sns) each do; a run
# for more workers than the stack has queues is refused clearly; runs
# leave the stack's resources as they
# were (no message in a queue, no object in the bucket but their records
# under runs/); a failed deploy
# names the failing resource; destroy removes it all (with_aws.sh checks
# no stack, queue, topic, subscription, bucket, role or log group is
# left), also with objects in the bucket.
set -euo pipefail
sdsinf=$1 stack=sdsinf-test
. "$(dirname "$0")/aws_test.sh"
small_network

echo "== deploy"
t0=$(date +%s.%N)
"$sdsinf" aws deploy --stack $stack --max-workers 4 --no-function --json >"$tmp/deploy.j" 2>"$tmp/deploy.err"
echo "ok: deployed in $(echo "$(date +%s.%N) - $t0" | bc) s: $(tail -n 1 "$tmp/deploy.j")"
grep -q "CREATE_COMPLETE *AWS::SNS::Subscription *Subscription4" "$tmp/deploy.err"
# every resource of the template is there, and is what it should be
"$sdsinf" aws template --max-workers 4 >"$tmp/template.json"
"$sdsinf" aws status --stack $stack --json | tail -n 1 >"$tmp/status.j"
"$sdsinf" aws status --stack $stack | grep -q "AWS::IAM::Role *WorkerRole *CREATE_COMPLETE"
"$py" - "$tmp/template.json" "$tmp/status.j" <<'PY'
import json, os, sys, botocore.session
t = json.load(open(sys.argv[1]))["Resources"]
st = json.load(open(sys.argv[2]))
have = {r["logical"]: r for r in st["resources"]}
missing = [k for k in t if k not in have or have[k]["status"] != "CREATE_COMPLETE"]
assert not missing, "not made: %s" % missing
out = st["outputs"]
s = botocore.session.get_session()
c = lambda n: s.create_client(n, endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                              region_name=os.environ["AWS_REGION"])
subs = c("sns").list_subscriptions_by_topic(TopicArn=out["TopicArn"])["Subscriptions"]
assert len(subs) == 5, subs
for x in subs:
    a = c("sns").get_subscription_attributes(SubscriptionArn=x["SubscriptionArn"])["Attributes"]
    w = x["Endpoint"].rsplit("-", 1)[1]
    assert a["RawMessageDelivery"] == "true", a
    assert json.loads(a["FilterPolicy"]) == {"target": [w]}, a
sqs = c("sqs")
for w in range(5):
    url = sqs.get_queue_url(QueueName="sdsinf-test-%d" % w)["QueueUrl"]
    pol = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert pol["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == out["TopicArn"], pol
role = out["WorkerRoleArn"].rsplit("/", 1)[1]
names = c("iam").list_role_policies(RoleName=role)["PolicyNames"]
assert names == ["sdsinf-worker"], names
g = c("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/sdsinf-test")["logGroups"]
assert g and g[0].get("retentionInDays") == 14, g
print("ok: %d resources made as the template says (subscriptions, filters, "
      "queue policies, role, log retention)" % len(t))
PY

run() { # tag, channel, run arguments...: scores into $tmp/TAG.tsv, JSON $tmp/TAG.j
    local tag=$1 ch=$2; shift 2
    "$sdsinf" run --weights "$tmp/g" --images "$img" --scores "$tmp/$tag.tsv" \
        --out "$tmp/$tag-cats.tsv" --channel "$ch" --stack $stack "$@" --json |
        tail -n 1 >"$tmp/$tag.j"
}
same() { # label, tag
    cmp "$tmp/$2.tsv" "$tmp/single.tsv" || { echo "FAIL: $1: scores differ"; exit 1; }
    cmp "$tmp/$2-cats.tsv" "$tmp/single-cats.tsv" || { echo "FAIL: $1: categories differ"; exit 1; }
}
untouched() { # label: the stack's queues hold no message, its bucket no object
    "$py" - "$@" <<'PY'
import os, sys, botocore.session
s = botocore.session.get_session()
c = lambda n: s.create_client(n, endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                              region_name=os.environ["AWS_REGION"])
sqs = c("sqs")
urls = sqs.list_queues().get("QueueUrls", [])
assert len(urls) == 5, urls
for u in urls:
    a = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["All"])["Attributes"]
    n = int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
    assert n == 0, "%s: %s holds %d messages" % (sys.argv[1], u, n)
b = [x["Name"] for x in c("s3").list_buckets()["Buckets"]]
assert len(b) == 1, b
objs = [o["Key"] for o in c("s3").list_objects_v2(Bucket=b[0]).get("Contents", [])
        if not o["Key"].startswith("runs/")]  # runs/: the runs' records
assert not objs, "%s: left %s" % (sys.argv[1], objs)
PY
    "$sdsinf" aws status --stack $stack | grep -q "^stack $stack: CREATE_COMPLETE"
}
for ch in sqs sns s3; do
    t0=$(date +%s.%N)
    run one $ch --workers 4
    same "$ch on the stack" one
    untouched "$ch on the stack"
    echo "ok: $ch --stack, 4 workers ($(echo "$(date +%s.%N) - $t0" | bc) s): $(grep -o '"requests":{[^}]*}' "$tmp/one.j")"
done
run thr sns --workers 3 --launcher threads --channel-config wait=5
same "sns on the stack, threads, own settings" thr
echo "ok: sns --stack with threads and --channel-config wait=5"

# Runs at once on the stack's queues and bucket: a receiver hands another
# run's young messages back at once and pauses its next poll, so that
# their run's receiver takes them (sqs_queue.h); the s3 channel's keys are
# under each run's own prefix.  Two runs on each channel, three on sns
# (SDSINF_TEST_STACK_REPEAT=N repeats it all N times).
at_once() { # channel, runs (2 or 3): each equals infer, the stack is left as it was
    local ch=$1 n=$2 i pids=() t0
    t0=$(date +%s.%N)
    run c1 "$ch" --workers 4 &
    pids+=($!)
    run c2 "$ch" --workers 3 --launcher threads &
    pids+=($!)
    if [ "$n" -ge 3 ]; then
        run c3 "$ch" --workers 2 &
        pids+=($!)
    fi
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || { echo "FAIL: $ch: run $((i + 1)) of $n at once failed"; exit 1; }
    done
    for i in $(seq 1 "$n"); do
        same "$ch: run $i of $n at once" c$i
    done
    untouched "$ch: $n runs at once"
    echo "ok: $ch: $n runs at once on the stack ($(echo "$(date +%s.%N) - $t0" | bc) s), each equal to infer;" \
        "the first's $(grep -o '"requests":{[^}]*}' "$tmp/c1.j" | cut -d, -f1-4)}"
}
for rep in $(seq 1 "${SDSINF_TEST_STACK_REPEAT:-1}"); do
    at_once sqs 2
    at_once sns 2
    at_once s3 2
    at_once sns 3
done

echo "== refused"
rc=0
run big sqs --workers 5 2>"$tmp/err" || rc=$?
[ "$rc" -ne 0 ] && grep -q "no queue sdsinf-test-5.*--max-workers" "$tmp/err" ||
    { echo "FAIL: 5 workers on a 4-worker stack: exit $rc"; cat "$tmp/err"; exit 1; }
rc=0
run nope sqs --workers 2 --stack nosuch 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no stack 'nosuch'.*aws deploy --stack nosuch" "$tmp/err" ||
    { echo "FAIL: a stack that does not exist: exit $rc"; cat "$tmp/err"; exit 1; }
rc=0
"$sdsinf" run --weights "$tmp/g" --images "$img" --workers 2 --channel local \
    --stack $stack 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "serves the channels sqs, sns and s3" "$tmp/err" ||
    { echo "FAIL: --stack with the local channel: exit $rc"; cat "$tmp/err"; exit 1; }
untouched "refused runs"
echo "ok: too many workers, no such stack, a channel --stack does not serve"

echo "== status lists a run --stack while it runs, and as interrupted after SIGINT"
"$sdsinf" generate --neurons 1024 --layers 60 --images 1000 --out "$tmp/big" >/dev/null
last_state() { # the state and age of the last run aws status lists
    "$sdsinf" aws status --stack $stack --json | tail -n 1 >"$tmp/st.j"
    field "$tmp/st.j" "r['runs'][-1]['state'] + ' ' + str(r['runs'][-1].get('age_s', -1) >= 0)"
}
set -m # the run in its own process group, SIGINT not ignored
"$sdsinf" run --weights "$tmp/big" --images "$tmp/big/sparse-images-1024.tsv" \
    --workers 2 --channel sqs --stack $stack --quiet >/dev/null 2>"$tmp/int.err" &
pid=$!
for _ in $(seq 100); do
    [ "$(last_state)" = "running True" ] && break
    sleep 0.2
done
[ "$(last_state)" = "running True" ] || { echo "FAIL: the run is not listed as running"; cat "$tmp/st.j"; exit 1; }
"$sdsinf" aws status --stack $stack | grep -q " running  *started [0-9]* s ago" ||
    { echo "FAIL: status does not show the running run's age"; exit 1; }
kill -INT "$pid"
rc=0; wait "$pid" || rc=$?
set +m
[ "$rc" = 130 ] && [ "$(last_state)" = "interrupted True" ] ||
    { echo "FAIL: after SIGINT: exit $rc, $(last_state)"; cat "$tmp/int.err"; exit 1; }
echo "ok: a run --stack is listed as running (with its age), then as interrupted"

echo "== deploy again (nothing to change), status, destroy with objects in the bucket"
"$sdsinf" aws deploy --stack $stack --max-workers 4 --no-function 2>"$tmp/err" >/dev/null
grep -q "up to date" "$tmp/err"
bucket=$(grep -o '"BucketName":"[^"]*' "$tmp/status.j" | cut -d'"' -f4)
objects=$("$py" - "$bucket" <<'PY'
import os, sys, botocore.session
s3 = botocore.session.get_session().create_client(
    "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
for i in range(1200):  # more than one page of DeleteObjects
    s3.put_object(Bucket=sys.argv[1], Key="model/part-%04d" % i, Body=b"x")
# and the runs' records
print(1200 + s3.list_objects_v2(Bucket=sys.argv[1], Prefix="runs/")["KeyCount"])
PY
)
t0=$(date +%s.%N)
"$sdsinf" aws destroy --stack $stack 2>"$tmp/err"
grep -q "emptied bucket $bucket: $objects objects" "$tmp/err"
echo "ok: destroyed in $(echo "$(date +%s.%N) - $t0" | bc) s with $objects objects in the bucket"
"$sdsinf" aws destroy --stack $stack >"$tmp/out" 2>"$tmp/err"
[ "$(cat "$tmp/out")" = "stack $stack: none (nothing to remove)" ] && [ ! -s "$tmp/err" ] ||
    { cat "$tmp/out" "$tmp/err"; echo "FAIL: destroy of no stack"; exit 1; }
"$sdsinf" aws destroy --stack $stack --json | grep -q '"status":"NONE"'
rc=0
"$sdsinf" aws status --stack $stack 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no stack" "$tmp/err"

echo "== a deploy that fails names the resource"
# a queue of the name the stack's worker 0 wants, made beforehand
"$py" - <<'PY'
import os, botocore.session
sqs = botocore.session.get_session().create_client(
    "sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
sqs.create_queue(QueueName="sdsinf-bad-0", Attributes={"VisibilityTimeout": "7"})
PY
rc=0
"$sdsinf" aws deploy --stack sdsinf-bad --max-workers 1 --no-function >/dev/null 2>"$tmp/err" || rc=$?
cat "$tmp/err" | tail -n 3
"$sdsinf" aws destroy --stack sdsinf-bad >/dev/null 2>&1 || true
"$py" - <<'PY'
import os, botocore.session
sqs = botocore.session.get_session().create_client(
    "sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
for u in sqs.list_queues().get("QueueUrls", []):
    sqs.delete_queue(QueueUrl=u)
PY
echo "ok: the end (exit $rc for the clashing deploy)"
