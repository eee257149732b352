#!/usr/bin/env bash
# cli_lambda_launch.sh SDSINF DATA TEST_LAMBDA - `sdsinf run --launcher
# lambda` against the private ministack tests/with_aws.sh starts: a stack
# deployed with its worker function (a zip of build/sdsinf as its
# bootstrap, which ministack runs as local processes), the model, plan and
# images uploaded and the local copies moved away; then runs over sqs, sns
# and s3 equal `sdsinf infer` byte for byte (scores and categories), with
# the invocations and billed GB-seconds in the JSON's requests, lambda and
# cost_usd, and in the metrics (METRIC_LAMBDA_RUNTIME, LAMBDA_*), `sdsinf
# cost` of the JSON and of the metrics giving its cost_usd; a launch tree
# (bfr 2, 2 levels) starts all its workers; the workers' peak memory is
# under the function's; a warm worker (lambda.warm) keeps its plan in S3
# (only HEADs of plan.bin and its shard), and loads it again once its
# objects change; the real 1024 x 120 network's 6,000 images on 8 workers
# over each channel reproduce the golden categories and infer's scores,
# their workers' peak under 100 MB (45-57 measured; not the 270+ MB of
# ministack's interpreter, which execs them) (when DATA has it);
# local inputs, no plan and a missing function fail clearly; a worker
# process killed mid-run (SDSINF_TEST_KILL in the function's environment)
# ends the run naming it, within the run's timeout and a few seconds, and
# leaves nothing behind (on a stack's shared queues too), as do an s3
# run interrupted (SIGTERM: every worker answers its stop), workers
# that never start (the function cannot reach SQS), named once the run's
# timeout is past, and an Invoke refused mid-tree
# (SDSINF_TEST_CHILD_FUNCTION), whose workers invoked late
# (SDSINF_TEST_CHILD_DELAY) make nothing again.  TEST_LAMBDA (test_lambda.c) checks Invoke itself
# on the function.  The stack is destroyed at the end; with_aws.sh then
# checks that the emulator holds nothing.
set -euo pipefail
sdsinf=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
data=$2
test_lambda=$3 stack=sdsinf-lt
. "$(dirname "$0")/aws_test.sh"
elapsed() { echo "$(date +%s.%N) - $1" | bc; }

echo "== a stack with its worker function"
t0=$(date +%s.%N)
"$sdsinf" aws deploy --stack $stack --max-workers 8 --no-function >/dev/null 2>"$tmp/deploy.err" ||
    { cat "$tmp/deploy.err"; fail "deploy"; }
"$sdsinf" aws status --stack $stack --json | tail -n 1 >"$tmp/status.j"
B=$(field "$tmp/status.j" "r['outputs']['BucketName']")
S3=$AWS_ENDPOINT_URL/$B
put() { curl -s -f -X PUT --data-binary "@$1" "$S3/$2" >/dev/null || fail "upload $2"; }
keys() { # the bucket's keys, one a line
    curl -s -f "$S3?list-type=2" | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g' | grep -v '^runs/\|^staged/' | sort
}
"$py" - "$sdsinf" "$tmp/package.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as z:
    i = zipfile.ZipInfo("bootstrap")
    i.external_attr = 0o100755 << 16
    i.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(i, open(sys.argv[1], "rb").read())
PY
put "$tmp/package.zip" package/sdsinf.zip
"$sdsinf" aws deploy --stack $stack --max-workers 8 --package package/sdsinf.zip \
    >/dev/null 2>"$tmp/deploy.err" || { cat "$tmp/deploy.err"; fail "deploy with the package"; }
"$sdsinf" aws status --stack $stack --json | tail -n 1 >"$tmp/status.j"
fn=$(field "$tmp/status.j" "r['outputs']['FunctionName']")
[ "$fn" = $stack-worker ] || fail "the function is '$fn'"
echo "ok: deployed with function $fn in $(elapsed "$t0") s"

small_network
"$sdsinf" convert --weights "$tmp/g" --out "s3://$B/model.sdsinf" >/dev/null
"$sdsinf" partition --weights "$tmp/g" --workers 4 --out "s3://$B/plan4" >/dev/null
"$sdsinf" partition --weights "$tmp/g" --workers 6 --out "s3://$B/plan6" >/dev/null
put "$img" in/images.tsv
mkdir "$tmp/moved" # nothing local to read from here on
mv "$tmp/g" "$tmp/moved/"
inputs=$(keys)

echo "== Invoke: answers, errors, events at once (test_lambda)"
SDSINF_TEST_FUNCTION=$fn SDSINF_TEST_WEIGHTS=s3://$B/model.sdsinf \
    SDSINF_TEST_IMAGES=s3://$B/in/images.tsv "$test_lambda" ||
    fail "test_lambda"

run() { # tag channel plan [args]: scores $tmp/TAG.tsv, categories, JSON $tmp/TAG.j
    local tag=$1 ch=$2 plan=$3; shift 3
    (cd "$tmp" && "$sdsinf" run --launcher lambda --stack $stack --channel "$ch" \
        --weights "s3://$B/model.sdsinf" --images "s3://$B/in/images.tsv" \
        --plan "s3://$B/$plan" --scores "$tmp/$tag.tsv" --out "$tmp/$tag-cats.tsv" \
        --metrics "$tmp/$tag-m" --json "$@") 2>"$tmp/$tag.err" | tail -n 1 >"$tmp/$tag.j" ||
        { cat "$tmp/$tag.err"; fail "$tag: the run failed"; }
}
same() { # tag: equal to infer
    cmp "$tmp/$1.tsv" "$tmp/single.tsv" || fail "$1: scores differ from infer"
    cmp "$tmp/$1-cats.tsv" "$tmp/single-cats.tsv" || fail "$1: categories differ"
}
billed() { # tag workers: the invocations and their bill in the JSON and the metrics
    local j=$tmp/$1.j m=$tmp/$1-m.json
    [ "$(field "$j" "r['lambda']['invocations']")" = "$2" ] &&
        [ "$(field "$j" "r['requests']['lambda_invocations']")" = "$2" ] &&
        [ "$(field "$j" "r['lambda']['gb_seconds'] > 0 and r['cost_usd'] > 0")" = True ] &&
        [ "$(field "$j" "0 < r['peak_mb'] < r['lambda']['memory_mb']")" = True ] ||
        fail "$1: invocations or bill: $(cat "$j")"
    "$sdsinf" cost "$j" >"$tmp/cost" || fail "$1: sdsinf cost"
    grep -q "lambda" "$tmp/cost" || fail "$1: no lambda in its bill: $(cat "$tmp/cost")"
    # the metrics: the workers' billed seconds summed (SDS-Inf's unit), and
    # `sdsinf cost` of the JSON and of the PREFIX give the run's cost_usd
    # (to the metrics' 9 digits)
    [ "$(field "$m" "r['run']['LAMBDA_INVOCATIONS'] == $2 and r['run']['METRIC_LAMBDA_RUNTIME'] > 0 and abs(r['run']['LAMBDA_GB_SECONDS'] - $(field "$j" "r['lambda']['gb_seconds']")) < 1e-6")" = True ] ||
        fail "$1: the metrics' Lambda columns: $(head -c 600 "$m")"
    "$sdsinf" cost "$j" --json | tail -n 1 >"$tmp/cost-j.j" &&
        "$sdsinf" cost "$tmp/$1-m" --json | tail -n 1 >"$tmp/cost-m.j" || fail "$1: sdsinf cost --json"
    local want; want=$(field "$j" "r['cost_usd']")
    [ "$(field "$tmp/cost-j.j" "abs(r['cost_usd'] - $want) <= 1e-12")" = True ] ||
        fail "$1: sdsinf cost RUN.json $(field "$tmp/cost-j.j" "r['cost_usd']"), the run's cost_usd $want"
    [ "$(field "$tmp/cost-m.j" "abs(r['cost_usd'] - $want) <= 1e-8 * $want")" = True ] ||
        fail "$1: sdsinf cost PREFIX $(field "$tmp/cost-m.j" "r['cost_usd']"), the run's cost_usd $want"
}
untouched() { # label: no run's own queue or topic, the queues hold nothing, the bucket only the inputs
    "$py" - "$1" <<'PY'
import os, re, sys, botocore.session
s = botocore.session.get_session()
kw = dict(endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
sqs, sns = s.create_client("sqs", **kw), s.create_client("sns", **kw)
for u in sqs.list_queues().get("QueueUrls", []):
    assert not re.search(r"/sdsinf-[0-9a-f]{16}-[0-9]+$", u), "%s: a run's queue %s is left" % (sys.argv[1], u)
    a = sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["All"])["Attributes"]
    n = int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
    assert n == 0, "%s: %s holds %d messages" % (sys.argv[1], u, n)
for t in sns.list_topics().get("Topics", []):
    assert not re.search(r":sdsinf-[0-9a-f]{16}$", t["TopicArn"]), "%s: a run's topic %s is left" % (sys.argv[1], t["TopicArn"])
PY
    [ "$(keys)" = "$inputs" ] || fail "$1: the bucket holds $(diff <(echo "$inputs") <(keys) | grep '^>' | head -5)"
    [ -z "$(find "$SDSINF_SCRATCH" -mindepth 1)" ] || fail "$1: files left in the scratch directory"
}

echo "== runs on Lambda over sqs, sns and s3"
for ch in sqs sns s3; do
    t0=$(date +%s.%N)
    run $ch $ch plan4
    same $ch
    billed $ch 4
    untouched "$ch"
    echo "ok: $ch, 4 workers ($(elapsed "$t0") s): $(grep -o '"lambda":{[^}]*}' "$tmp/$ch.j"), cost_usd $(field "$tmp/$ch.j" "r['cost_usd']")"
done
t0=$(date +%s.%N)
run tree sqs plan6 --bfr 2 --nlevels 2
same tree
billed tree 6
untouched "the tree"
echo "ok: a launch tree of 2 x 2 levels, 6 workers ($(elapsed "$t0") s)"

echo "== a warm worker keeps its plan in S3; a changed plan is loaded again"
# one worker, so the emulator's first warm process serves it each time: a
# worker that loads HEADs and GETs plan.bin and its shard, a warm one only
# HEADs them (their ETag, size and Last-Modified); both GET their inputs
# (the first run also stages them: their HEADs and PUTs)
plan1() { "$sdsinf" partition --weights "s3://$B/model.sdsinf" --workers 1 --method "$1" \
    --out "s3://$B/plan1" >/dev/null; }
plan1 block
inputs=$(keys)
receives() { field "$tmp/$1.j" "r['storage_requests']['receive']"; }
for tag in cold warm; do run $tag sqs plan1; same $tag; done
plan1 random # the same keys, other content
run changed sqs plan1
same changed
untouched "the warm runs"
warm() { field "$tmp/$1.j" "r['lambda']['warm']"; }
[ "$(warm warm)" = 1 ] && [ "$(warm changed)" = 0 ] ||
    fail "warm invocations: cold $(warm cold), warm $(warm warm), changed $(warm changed)"
[ "$(( $(receives changed) - $(receives warm) ))" = 2 ] ||
    fail "storage receives: cold $(receives cold), warm $(receives warm), changed $(receives changed)"
echo "ok: storage receives: cold $(receives cold) (its inputs staged), warm $(receives warm) (plan and shard kept), changed $(receives changed) (loaded again)"

echo "== refused"
expect() { # label exit pattern args...: a run that fails so
    local label=$1 want=$2 pat=$3 rc=0; shift 3
    (cd "$tmp" && "$sdsinf" run --launcher lambda "$@") >/dev/null 2>"$tmp/err" || rc=$?
    [ "$rc" = "$want" ] && grep -q -- "$pat" "$tmp/err" ||
        { cat "$tmp/err"; fail "$label: exit $rc"; }
    echo "ok: $label: $(head -c 240 "$tmp/err")"
}
# without a stack (--function names the function), nothing to stage local
# inputs in
expect "local inputs" 2 "takes --weights, --images and --plan in S3" --function "$fn" \
    --weights "$tmp/moved/g" --images "$tmp/moved/g/sparse-images-128.tsv" --plan "s3://$B/plan4"
expect "no plan" 2 "or a plan in S3" --function "$fn" \
    --weights "s3://$B/model.sdsinf" --images "s3://$B/in/images.tsv" --workers 4
expect "no such function" 1 "not invoked: AWS lambda: Invoke sdsinf-none (Event): HTTP 404 ResourceNotFoundException" \
    --stack $stack --function sdsinf-none --weights "s3://$B/model.sdsinf" --images "s3://$B/in/images.tsv" \
    --plan "s3://$B/plan4"
untouched "the refused runs"

echo "== local inputs on a stack: staged in its bucket first"
(cd "$tmp" && "$sdsinf" run --launcher lambda --stack $stack --channel sqs --workers 4 \
    --weights "$tmp/moved/g" --images "$tmp/moved/g/sparse-images-128.tsv" \
    --method block --scores "$tmp/staged.tsv" --out "$tmp/staged-cats.tsv" \
    --json) 2>"$tmp/staged.err" | tail -n 1 >"$tmp/staged.j" ||
    { cat "$tmp/staged.err"; fail "staged: the run failed"; }
same staged
[ "$(field "$tmp/staged.j" "r['staged']['uploaded'] > 0")" = True ] ||
    fail "staged: nothing staged: $(cat "$tmp/staged.j")"
echo "ok: local inputs staged ($(field "$tmp/staged.j" "r['staged']"))"

echo "== a worker process killed at layer 3"
# over the stack's bucket, the stack's queues (shared by runs: the failed
# run's coordinator drains its messages, those sent to the dead worker
# too) and queues of the run's own
function_env() { # JSON of the function's environment variables
    "$py" - "$fn" "$1" <<'PY'
import json, os, sys, time, botocore.session
lam = botocore.session.get_session().create_client(
    "lambda", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
lam.update_function_configuration(FunctionName=sys.argv[1],
                                  Environment={"Variables": json.loads(sys.argv[2])})
for _ in range(100):
    if lam.get_function_configuration(FunctionName=sys.argv[1]).get("LastUpdateStatus", "Successful") == "Successful":
        break
    time.sleep(0.1)
PY
}
failing() { # run arguments...: a run of the model (timeout 5 s) that fails: its exit in rc, its seconds in took, its error shown and in $tmp/err
    t0=$(date +%s)
    rc=0
    (cd "$tmp" && "$sdsinf" run --launcher lambda --weights "s3://$B/model.sdsinf" \
        --images "s3://$B/in/images.tsv" --timeout-ms 5000 "$@") >/dev/null 2>"$tmp/err" || rc=$?
    took=$(( $(date +%s) - t0 ))
    cat "$tmp/err"
}
killed() { # label, run arguments...
    local label=$1; shift
    failing --plan "s3://$B/plan4" "$@"
    [ "$rc" = 1 ] || fail "$label: exit $rc"
    grep -q "^sdsinf: error ETIMEDOUT: worker(s) 2 fell silent on channel" "$tmp/err" ||
        fail "$label: the error does not name worker 2"
    [ "$took" -le 25 ] || fail "$label: the killed run took $took s"
    untouched "$label"
    echo "ok: $label: worker 2 named in $took s (timeout 5 s), nothing left"
}
function_env '{"SDSINF_TEST_KILL": "2:3"}'
killed "killed, s3 on the stack" --stack $stack --channel s3
killed "killed, sqs on the stack" --stack $stack --channel sqs
killed "killed, sqs on the run's queues" --function "$fn" --channel sqs

echo "== an Invoke refused mid-tree (worker 3's children, on no function)"
# the run ends at once naming it, and worker 0's subtree, invoked 4 s late
# (SDSINF_TEST_CHILD_DELAY), opens once the coordinator removed the run's
# queues: it fails and makes none again
function_env '{"SDSINF_TEST_CHILD_FUNCTION": "3:sdsinf-none", "SDSINF_TEST_CHILD_DELAY": "0:4000"}'
failing --function "$fn" --channel sqs --plan "s3://$B/plan6" --bfr 2 --nlevels 2
[ "$rc" = 1 ] && grep -q "^sdsinf: error EIO: worker [45]: not invoked: AWS lambda: Invoke sdsinf-none (Event): HTTP 404" "$tmp/err" ||
    fail "refused mid-tree: exit $rc"
[ "$took" -le 20 ] || fail "refused mid-tree: told after $took s"
for i in $(seq 10); do # the late workers' time to open (and, before, to make queues)
    untouched "refused mid-tree, ${i} s after"
    sleep 1
done
function_env '{}'
echo "ok: an Invoke refused mid-tree named in $took s, nothing left 10 s after"

echo "== an interrupted run on s3: its workers take their stops"
# a stop on a keyed channel is an object: the coordinator waits for the
# workers' answers before its teardown removes it (they ran on to their
# timeout); a background job ignores SIGINT, so SIGTERM, the same handler
"$sdsinf" generate --neurons 512 --layers 120 --images 3000 --seed 9 --out "$tmp/long" >/dev/null
"$sdsinf" run --launcher lambda --stack $stack --channel s3 --workers 4 --method block \
    --weights "$tmp/long" --images "$tmp/long/sparse-images-512.tsv" --timeout-ms 30000 \
    >/dev/null 2>"$tmp/int.err" &
pid=$!
for i in $(seq 300); do # until the workers write their first rows
    keys | grep -q '^sdsinf/' && break
    sleep 0.1
done
kill -TERM $pid
rc=0; wait $pid || rc=$?
# (a worker reads its stop while it waits: a sanitizer build's may still
# be loading still, past the coordinator's 5 s for their answers)
answered=1
ldd "$sdsinf" 2>/dev/null | grep -q 'libasan\|libtsan' && answered=0
[ "$rc" = 143 ] && grep -q "interrupted (SIGTERM): stopped 4 workers and removed" "$tmp/int.err" &&
    { [ $answered = 0 ] || ! grep -q "did not answer" "$tmp/int.err"; } ||
    fail "interrupted s3 run: exit $rc: $(cat "$tmp/int.err")"
[ $answered = 0 ] || untouched "the interrupted s3 run"
echo "ok: $(tail -n 1 "$tmp/int.err")"

echo "== workers that never start (their SQS endpoint unreachable)"
function_env '{"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:9"}'
failing --function "$fn" --channel sqs --plan "s3://$B/plan4"
function_env '{}'
[ "$rc" = 1 ] && grep -q "worker(s) 0,1,2,3 never started: no word from them on channel sqs within 5000 ms (their invocations failed" "$tmp/err" ||
    fail "never started: exit $rc"
[ "$took" -le 20 ] || fail "never started: told after $took s"
untouched "never started"
echo "ok: workers that never start named in $took s (start timeout: the run's 5 s)"

gc=$data/graphchallenge
if [ -d "$gc/neuron1024" ]; then
    echo "== the real 1024 x 120 network, 6,000 images, 8 workers"
    real=$tmp/real
    mkdir "$real"
    "$sdsinf" convert --weights "$gc/neuron1024" --out "s3://$B/real/model.sdsinf" >/dev/null
    "$sdsinf" partition --weights "s3://$B/real/model.sdsinf" --workers 8 \
        --out "s3://$B/real/plan" >/dev/null
    put "$gc/sparse-images-1024-first6000.tsv" real/images.tsv
    "$sdsinf" infer --weights "s3://$B/real/model.sdsinf" --images "s3://$B/real/images.tsv" \
        --scores "$real/single.tsv" --quiet
    inputs=$(keys)
    for ch in sqs sns s3; do
        t0=$(date +%s.%N)
        (cd "$tmp" && "$sdsinf" run --launcher lambda --stack $stack --channel $ch \
            --weights "s3://$B/real/model.sdsinf" --images "s3://$B/real/images.tsv" \
            --plan "s3://$B/real/plan" --check "$gc/neuron1024-l120-categories-first6000.tsv" \
            --scores "$real/$ch.tsv" --json) 2>"$tmp/err" | tail -n 1 >"$real/$ch.j" ||
            { cat "$tmp/err"; fail "real, $ch: the run failed"; }
        [ "$(field "$real/$ch.j" "r['check']")" = pass ] || fail "real, $ch: check"
        cmp "$real/$ch.tsv" "$real/single.tsv" || fail "real, $ch: scores differ from infer"
        billed_real=$(field "$real/$ch.j" "r['lambda']['invocations']")
        [ "$billed_real" = 8 ] || fail "real, $ch: $billed_real invocations"
        [ "$(field "$real/$ch.j" "0 < r['peak_mb'] < 100")" = True ] ||
            fail "real, $ch: the workers' peak_mb $(field "$real/$ch.j" "r['peak_mb']")"
        untouched "real, $ch"
        echo "ok: real, $ch: golden, equal to infer ($(elapsed "$t0") s): $(grep -o '"requests":{[^}]*}' "$real/$ch.j"), $(grep -o '"lambda":{[^}]*}' "$real/$ch.j"), cost_usd $(field "$real/$ch.j" "r['cost_usd']"), peak_mb $(field "$real/$ch.j" "r['peak_mb']")"
    done
else
    echo "SKIP (real data): $gc not found"
fi

echo "== destroy"
t0=$(date +%s.%N)
"$sdsinf" aws destroy --stack $stack >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; fail "destroy"; }
echo "ok: destroyed in $(elapsed "$t0") s"
echo PASS
