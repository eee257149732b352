#!/usr/bin/env bash
# cli_aws_run.sh SDSINF DATA - `sdsinf aws run`: the coordinator on the
# stack's function, against the private ministack tests/with_aws.sh starts
# (its Lambda runs the function's bootstrap as a local process).  The
# package is `sdsinf aws package`'s zip (the bootstrap, its libraries and
# the price table), deployed by `sdsinf aws deploy --package KEY`.  After
# `sdsinf aws upload`, the local model, plan, images and golden file are
# moved away, and a run from the printed s3:// locations equals `sdsinf
# infer` bit for bit (the function read S3 only), its JSON (cost_usd
# priced by the package's price table), categories and metrics written
# under s3://BUCKET/runs/NAME/ and the local --out, --scores and --metrics
# fetched; a run from local paths stages them first (0 bytes: uploaded
# already); the coordinator's JSON and record carry what it staged itself
# (the plan it made, the workers' inputs); a run that fails on Lambda
# exits 1 with its error, recorded as failed in `sdsinf aws status`; one
# interrupted (SIGTERM) while it waits exits 143 saying where the record
# will be, and the run ends on its own; a stack without its function is
# refused saying how to deploy it.  With
# the shared data, the real 1024x120 network's first 6,000 images on 8
# workers reproduce the golden categories.
set -euo pipefail
sdsinf=$1 data=${2:-} stack=sdsinf-run
. "$(dirname "$0")/aws_test.sh"

small_network
gold=$tmp/g/n128-l8-categories.tsv
"$sdsinf" partition --weights "$tmp/g" --workers 3 --out "$tmp/plan" >/dev/null

echo "== deploy, the function from a zip made here"
"$sdsinf" aws deploy --stack $stack --max-workers 8 --no-function --json >"$tmp/d.j" 2>/dev/null
bucket=$(field "$tmp/d.j" "r['outputs']['BucketName']")
rc=0
"$sdsinf" aws run --stack $stack --weights "$tmp/g" --images "$img" --workers 2 \
    2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "no function.*--package" "$tmp/err" ||
    fail "aws run without the function: exit $rc: $(cat "$tmp/err")"
"$sdsinf" aws package --out "$tmp/package.zip" >/dev/null
"$py" - "$tmp/package.zip" "$bucket" <<'PY'
import os, sys, botocore.session
s3 = botocore.session.get_session().create_client(
    "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
s3.put_object(Bucket=sys.argv[2], Key="package/sdsinf.zip", Body=open(sys.argv[1], "rb").read())
PY
"$sdsinf" aws deploy --stack $stack --max-workers 8 --package package/sdsinf.zip >/dev/null 2>&1
echo "ok: deployed with the function; without it, aws run said: $(tail -n 1 "$tmp/err")"

echo "== from the uploaded locations, the local files gone"
"$sdsinf" aws upload --stack $stack --weights "$tmp/g" --plan "$tmp/plan" \
    --images "$img" --check "$gold" --json >"$tmp/up.j"
mv "$tmp/g" "$tmp/g.away" && mv "$tmp/plan" "$tmp/plan.away"
loc() { field "$tmp/up.j" "r['$1']"; }
"$sdsinf" aws run --stack $stack --weights "$(loc weights)" --images "$(loc images)" \
    --plan "$(loc plan)" --check "$(loc check)" --channel sqs \
    --scores "$tmp/a.tsv" --out "$tmp/a-cats.tsv" --json >"$tmp/a.j" 2>"$tmp/a.err" ||
    { cat "$tmp/a.err"; fail "aws run from S3"; }
cmp "$tmp/a.tsv" "$tmp/single.tsv" || fail "the scores differ from infer's"
cmp "$tmp/a-cats.tsv" "$tmp/single-cats.tsv" || fail "the categories differ from infer's"
[ "$(field "$tmp/a.j" "r['check']")" = pass ] && [ "$(field "$tmp/a.j" "r['coordinator']")" = lambda ] &&
    [ "$(field "$tmp/a.j" "isinstance(r['cost_usd'], (int, float)) and r['cost_usd'] > 0")" = True ] &&
    [ "$(field "$tmp/a.j" "r['workers']")" = 3 ] && [ "$(field "$tmp/a.j" "r['scores']")" = "$tmp/a.tsv" ] ||
    fail "the run's JSON: $(cat "$tmp/a.j")"
# nothing of aws run's own to stage; the coordinator staged the workers'
# inputs (3 and their manifest), and its staged is the JSON's
[ "$(field "$tmp/a.j" "r['staged']['uploaded'] + r['staged']['skipped']")" = 4 ] ||
    fail "the run's JSON lacks the coordinator's staged: $(cat "$tmp/a.j")"
record=$(field "$tmp/a.j" "r['record']")
"$py" - "$bucket" "$record" <<'PY'
import os, sys, json, botocore.session
s3 = botocore.session.get_session().create_client(
    "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
prefix = sys.argv[2].split("/", 3)[3].rsplit("/", 1)[0] + "/"
keys = sorted(o["Key"][len(prefix):] for o in
              s3.list_objects_v2(Bucket=sys.argv[1], Prefix=prefix)["Contents"])
want = ["categories.tsv", "metrics-layers.csv", "metrics.csv", "metrics.json",
        "request.json", "result.json", "scores.tsv"]
assert keys == want, keys
ev = json.loads(s3.get_object(Bucket=sys.argv[1], Key=prefix + "request.json")["Body"].read())
assert all(v.startswith("s3://") for k, v in ev["run"].items()
           if k in ("weights", "images", "plan", "check", "out", "scores", "metrics")), ev
assert "queues=" in ev["run"]["channel-config"], ev
PY
echo "ok: the coordinator on Lambda read S3 only and equals infer; runs/NAME/ holds its JSON, categories, scores and metrics"
echo "   $(tail -n 1 "$tmp/a.err")"
mv "$tmp/g.away" "$tmp/g" && mv "$tmp/plan.away" "$tmp/plan"

echo "== from local paths: staged first (nothing new), the summary as run prints it"
"$sdsinf" aws run --stack $stack --weights "$tmp/g" --images "$img" --check "$gold" \
    --workers 3 --channel s3 --out "$tmp/b-cats.tsv" --metrics "$tmp/m" \
    >"$tmp/b.txt" 2>"$tmp/b.err" || { cat "$tmp/b.err"; fail "aws run from local paths"; }
cmp "$tmp/b-cats.tsv" "$tmp/single-cats.tsv" || fail "the categories differ (local paths)"
[ -s "$tmp/m.csv" ] && [ -s "$tmp/m-layers.csv" ] && [ -s "$tmp/m.json" ] &&
    grep -q "^metrics: $tmp/m.csv" "$tmp/b.txt" || fail "the metrics were not fetched"
grep -q "^3 workers: 60 images, 12 categories in .*; check passed$" "$tmp/b.txt" &&
    grep -q "(12 objects: 0 bytes uploaded" "$tmp/b.err" &&
    grep -q "^--weights $tmp/g: s3://$bucket/staged/" "$tmp/b.err" ||
    fail "the summary: $(cat "$tmp/b.txt" "$tmp/b.err")"
echo "ok: $(head -n 1 "$tmp/b.txt")"

echo "== a run that fails on Lambda"
rc=0
"$sdsinf" aws run --stack $stack --weights "$tmp/g" --images "$img" --plan "$tmp/plan" \
    --workers 2 --channel sqs >"$tmp/c.txt" 2>"$tmp/c.err" || rc=$?
[ "$rc" = 1 ] && grep -q "error EIO: the run on Lambda: .*3 workers, not 2" "$tmp/c.err" ||
    fail "a failing run: exit $rc: $(cat "$tmp/c.err")"
echo "ok: exit 1: $(tail -n 1 "$tmp/c.err")"
rc=0
"$sdsinf" aws run --stack $stack --weights "$tmp/g" --images "$img" --scores - 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q "give a file" "$tmp/err" || fail "--scores -: exit $rc"
rc=0 # an output it could not fetch into: refused before anything is staged
"$sdsinf" aws run --stack $stack --weights "$tmp/g" --images "$img" --out "$tmp/nodir/c.tsv" \
    2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q -- "--out $tmp/nodir/c.tsv: its directory" "$tmp/err" &&
    ! grep -q "staged\|invoked" "$tmp/err" || fail "--out in no directory: exit $rc: $(cat "$tmp/err")"

"$sdsinf" aws status --stack $stack --json >"$tmp/st.j"
[ "$(field "$tmp/st.j" "[x['state'] for x in r['runs']]")" = "['done', 'done', 'failed']" ] ||
    fail "status's runs: $(field "$tmp/st.j" "[(x['name'], x['state']) for x in r['runs']]")"
# the coordinator staged the plan it made (plan.bin, 3 shards, the
# manifest) and the workers' inputs: its own record says so
[ "$(field "$tmp/st.j" "r['runs'][1]['result']['staged']['uploaded'] + r['runs'][1]['result']['staged']['skipped'] >= 5")" = True ] ||
    fail "the coordinator's record has no staged: $(field "$tmp/st.j" "r['runs'][1]['result']")"
echo "ok: status: $(field "$tmp/st.j" "[(x['name'], x['state']) for x in r['runs']]"); the coordinator staged $(field "$tmp/st.j" "r['runs'][1]['result']['staged']")"

echo "== interrupted while waiting: the run goes on, where its record will be"
"$sdsinf" aws run --stack $stack --weights "$tmp/g" --images "$img" --workers 2 \
    --method block --channel sqs >"$tmp/i.txt" 2>"$tmp/i.err" &
pid=$!
for _ in $(seq 300); do grep -q "^invoked" "$tmp/i.err" && break; sleep 0.1; done
kill -TERM $pid # (a background job ignores SIGINT)
rc=0; wait $pid || rc=$?
where=$(sed -n 's/^invoked .*; waiting for //p' "$tmp/i.err")
[ "$rc" = 143 ] && [ -n "$where" ] &&
    grep -qF "interrupted (SIGTERM): the run goes on on Lambda; its record will be $where, and \`sdsinf aws status --stack $stack\` shows it" "$tmp/i.err" ||
    fail "SIGTERM: exit $rc: $(cat "$tmp/i.err")"
for _ in $(seq 120); do # its coordinator ends it before the stack goes
    "$sdsinf" aws status --stack $stack --json >"$tmp/st.j"
    [ "$(field "$tmp/st.j" "r['runs'][-1]['state']")" = done ] && break
    sleep 1
done
[ "$(field "$tmp/st.j" "r['runs'][-1]['state']")" = done ] ||
    fail "the interrupted run did not end: $(field "$tmp/st.j" "r['runs'][-1]")"
echo "ok: exit 143: $(tail -n 1 "$tmp/i.err")"

if [ -n "$data" ] && [ -f "$data/graphchallenge/neuron1024/n1024-l120.tsv" ]; then
    echo "== the real 1024x120 network, first 6,000 images, 8 workers, coordinator on Lambda"
    gc=$data/graphchallenge
    "$sdsinf" partition --weights "$gc/neuron1024" --workers 8 --out "$tmp/plan8" >/dev/null
    t0=$(date +%s.%N)
    "$sdsinf" aws run --stack $stack --weights "$gc/neuron1024" \
        --images "$gc/sparse-images-1024-first6000.tsv" \
        --check "$gc/neuron1024-l120-categories-first6000.tsv" --plan "$tmp/plan8" \
        --channel sqs --wait-s 1200 --json >"$tmp/r.j" 2>"$tmp/r.err" ||
        { cat "$tmp/r.err"; fail "the real network on Lambda"; }
    [ "$(field "$tmp/r.j" "r['check']")" = pass ] && [ "$(field "$tmp/r.j" "r['categories']")" = 182 ] ||
        fail "the real network: $(cat "$tmp/r.j")"
    echo "ok: golden (182 categories) in $(echo "$(date +%s.%N) - $t0" | bc) s (staging included): $(field "$tmp/r.j" "(r['seconds'], r['messages_sent'], r['staged'])")"
else
    echo "SKIPPED: the real network (no shared data at '$data')"
fi

"$sdsinf" aws destroy --stack $stack >/dev/null 2>&1
[ -z "$(find "$SDSINF_SCRATCH" -mindepth 1)" ] || { find "$SDSINF_SCRATCH"; fail "files left"; }
echo "ok: destroyed"
