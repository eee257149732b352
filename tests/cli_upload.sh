#!/usr/bin/env bash
# cli_upload.sh SDSINF - local data staged in a stack's bucket, against the
# private ministack tests/with_aws.sh starts: `sdsinf aws upload` puts a
# model, a plan, images and golden categories under staged/,
# content-addressed, and prints their s3:// locations; the same upload
# again uploads 0 bytes; a file S3 keys cannot name is refused naming it.
# `sdsinf run --stack --stage` stages the plan and the workers' inputs so
# that the workers' specs name only s3:// locations: with the external
# launcher the local model, plan and images are moved away before the
# workers start, and the run still equals `sdsinf infer` bit for bit; a
# second run stages nothing new.  A run given only the printed s3://
# locations (the local files gone) equals infer too.  A run that makes its
# plan (no --plan), run again, uploads nothing.  Every run on the
# stack is recorded under runs/, and `sdsinf aws status` lists them, a
# failed one as failed.  with_aws.sh checks that destroy left nothing.
set -euo pipefail
sdsinf=$1 stack=sdsinf-up
. "$(dirname "$0")/aws_test.sh"

small_network
gold=$tmp/g/n128-l8-categories.tsv
"$sdsinf" partition --weights "$tmp/g" --workers 3 --out "$tmp/plan" >/dev/null
"$sdsinf" aws deploy --stack $stack --max-workers 4 --no-function >/dev/null 2>&1

echo "== upload, twice"
up() { "$sdsinf" aws upload --stack $stack --weights "$tmp/g" --plan "$tmp/plan" \
    --images "$img" --check "$gold" "$@"; }
up --json >"$tmp/up1.j"
up --json >"$tmp/up2.j"
up >"$tmp/up3.txt"
files=$(( $(ls "$tmp/g" | wc -l) + $(ls "$tmp/plan" | wc -l) + 2 + 2 )) # + manifests
[ "$(field "$tmp/up1.j" "r['uploaded']")" = "$files" ] &&
    [ "$(field "$tmp/up1.j" "r['skipped']")" = 0 ] || fail "first upload: $(cat "$tmp/up1.j")"
[ "$(field "$tmp/up2.j" "r['bytes_uploaded']")" = 0 ] &&
    [ "$(field "$tmp/up2.j" "r['skipped']")" = "$files" ] &&
    [ "$(field "$tmp/up2.j" "r['bytes_skipped']")" = "$(field "$tmp/up1.j" "r['bytes_uploaded']")" ] ||
    fail "the second upload uploaded: $(cat "$tmp/up2.j")"
for k in weights plan images check; do
    [ "$(field "$tmp/up1.j" "r['$k']")" = "$(field "$tmp/up2.j" "r['$k']")" ] || fail "$k moved"
    field "$tmp/up1.j" "r['$k']" | grep -Eq '^s3://[^/]+/staged/[0-9a-f]{64}(/[^/]+)?$' ||
        fail "$k: $(field "$tmp/up1.j" "r['$k']")"
done
field "$tmp/up1.j" "r['images']" | grep -q '/sparse-images-128.tsv$' || fail "the images' name"
grep -q "^--plan  *s3://" "$tmp/up3.txt" && grep -q "uploaded 0 objects (0 bytes), $files there already" "$tmp/up3.txt" ||
    fail "upload's summary: $(cat "$tmp/up3.txt")"
echo "ok: $files objects uploaded ($(field "$tmp/up1.j" "r['bytes_uploaded']") bytes), then 0 bytes: $(tail -n 1 "$tmp/up3.txt")"
bucket=$(field "$tmp/up1.j" "r['bucket']")
# the bucket holds the files under their own names, and the manifests
"$py" - "$bucket" "$(field "$tmp/up1.j" "r['plan']")" <<'PY'
import os, sys, botocore.session
s3 = botocore.session.get_session().create_client(
    "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
prefix = sys.argv[2].split("/", 3)[3] + "/"
keys = sorted(o["Key"][len(prefix):] for o in
              s3.list_objects_v2(Bucket=sys.argv[1], Prefix=prefix)["Contents"])
assert keys == [".manifest", "plan.bin", "shard-0.sdsinf", "shard-1.sdsinf", "shard-2.sdsinf"], keys
m = s3.get_object(Bucket=sys.argv[1], Key=prefix + ".manifest")["Body"].read().decode()
assert m.startswith("sdsinf-staged 1\n") and m.count("\n") == 5, m
PY
mkdir "$tmp/odd" && cp "$img" "$tmp/odd/a file.tsv"
rc=0
"$sdsinf" aws upload --stack $stack --weights "$tmp/odd" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "a file.tsv.*rename it" "$tmp/err" || fail "a name S3 keys cannot take: exit $rc: $(cat "$tmp/err")"
rc=0
"$sdsinf" aws upload --stack $stack --images "$tmp/nonexistent" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "nonexistent" "$tmp/err" || fail "a missing file: exit $rc"
echo "ok: refused: $(cat "$tmp/err")"

echo "== run --stack --stage: the workers read only S3"
# the external launcher: the specs name s3:// only; the workers start once
# the local model, plan and images are gone
timeout 300 "$sdsinf" run --launcher external --specs-out "$tmp/specs" --stack $stack \
    --stage --channel sqs --weights "$tmp/g" --images "$img" --plan "$tmp/plan" \
    --scores "$tmp/ext.tsv" --json >"$tmp/ext.j" 2>"$tmp/ext.err" &
run=$!
for _ in $(seq 600); do
    [ "$(ls "$tmp/specs" 2>/dev/null | grep -c '^worker-[0-9]*\.spec$')" = 3 ] && break
    sleep 0.1
done
[ -f "$tmp/specs/worker-2.spec" ] || { cat "$tmp/ext.err"; fail "no specs"; }
grep -E '^(plan|inputs|bias) ' "$tmp/specs/worker-0.spec" >"$tmp/paths"
[ "$(grep -c '^plan s3://' "$tmp/paths")" = 1 ] && [ "$(grep -c '^inputs s3://' "$tmp/paths")" = 1 ] ||
    fail "the spec's paths: $(cat "$tmp/paths")"
if grep -n "$tmp\|$SDSINF_SCRATCH" "$tmp/specs/worker-0.spec"; then fail "a spec names a local path"; fi
grep -q "^plan $(field "$tmp/up1.j" "r['plan']")$" "$tmp/paths" || fail "the plan is not the uploaded one"
mv "$tmp/g" "$tmp/g.away" && mv "$tmp/plan" "$tmp/plan.away"
pids=()
for w in 0 1 2; do "$sdsinf" worker --spec "$tmp/specs/worker-$w.spec" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "a worker failed"; done
wait "$run" || { cat "$tmp/ext.err"; fail "the external run"; }
cmp "$tmp/ext.tsv" "$tmp/single.tsv" || fail "the external run's scores differ from infer's"
echo "ok: specs name only S3 ($(tr '\n' ' ' <"$tmp/paths")); workers started with the local files gone equal infer"
echo "   staged: $(field "$tmp/ext.j" "r['staged']")"
mv "$tmp/g.away" "$tmp/g" && mv "$tmp/plan.away" "$tmp/plan"

# the local launcher: the same plan and images again stage nothing new
"$sdsinf" run --stack $stack --stage --channel s3 --weights "$tmp/g" --images "$img" \
    --plan "$tmp/plan" --check "$gold" --scores "$tmp/loc.tsv" --json >"$tmp/loc.j"
cmp "$tmp/loc.tsv" "$tmp/single.tsv" || fail "the local run's scores differ"
[ "$(field "$tmp/loc.j" "r['staged']['bytes_uploaded']")" = 0 ] &&
    [ "$(field "$tmp/loc.j" "r['check']")" = pass ] || fail "the second staged run: $(cat "$tmp/loc.j")"
echo "ok: the same run again staged 0 bytes ($(field "$tmp/loc.j" "r['staged']['bytes_skipped']") there already), equals infer"

# only the printed locations, the local files gone: the coordinator reads S3 too
mv "$tmp/g" "$tmp/g.away" && mv "$tmp/plan" "$tmp/plan.away"
"$sdsinf" run --stack $stack --channel sqs --weights "$(field "$tmp/up1.j" "r['weights']")" \
    --images "$(field "$tmp/up1.j" "r['images']")" --plan "$(field "$tmp/up1.j" "r['plan']")" \
    --check "$(field "$tmp/up1.j" "r['check']")" --scores "$tmp/s3.tsv" --json >"$tmp/s3.j"
cmp "$tmp/s3.tsv" "$tmp/single.tsv" || fail "the run from the s3:// locations differs"
echo "ok: a run from the uploaded s3:// locations alone equals infer: check $(field "$tmp/s3.j" "r['check']")"
mv "$tmp/g.away" "$tmp/g" && mv "$tmp/plan.away" "$tmp/plan"

# no --plan: the plan a run makes is the same bytes each time (plan.bin
# keeps no timing), so a second run of the same model uploads nothing
made() { "$sdsinf" run --stack $stack --stage --channel s3 --workers 3 --weights "$tmp/g" \
    --images "$img" --scores "$tmp/$1.tsv" --json >"$tmp/$1.j"; }
made made1 && made made2 || fail "a run that makes its plan"
cmp "$tmp/made2.tsv" "$tmp/single.tsv" || fail "the run that made its plan differs from infer"
[ "$(field "$tmp/made2.j" "r['staged']['bytes_uploaded']")" = 0 ] &&
    [ "$(field "$tmp/made2.j" "r['staged']['skipped']")" = "$(field "$tmp/made1.j" "r['staged']['uploaded'] + r['staged']['skipped']")" ] ||
    fail "the plan made again was uploaded again: $(field "$tmp/made1.j" "r['staged']") then $(field "$tmp/made2.j" "r['staged']")"
echo "ok: a run that makes its plan, again: 0 bytes uploaded ($(field "$tmp/made1.j" "r['staged']['bytes_uploaded']") the first time)"
rc=0
"$sdsinf" run --stage --weights "$tmp/g" --images "$img" --workers 2 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q "needs --stack" "$tmp/err" || fail "--stage without --stack: exit $rc"
# a run that fails on the stack: a plan for 3 workers asked for 2
rc=0
"$sdsinf" run --stack $stack --channel sqs --weights "$tmp/g" --images "$img" \
    --plan "$tmp/plan" --workers 2 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "a plan for 3 workers run on 2: exit $rc"

echo "== status: the last runs"
"$sdsinf" aws status --stack $stack >"$tmp/status.txt"
"$sdsinf" aws status --stack $stack --json >"$tmp/status.j"
sed -n '/^runs/,$p' "$tmp/status.txt"
[ "$(field "$tmp/status.j" "len(r['runs'])")" = 6 ] &&
    [ "$(field "$tmp/status.j" "[x['state'] for x in r['runs']]")" = "['done', 'done', 'done', 'done', 'done', 'failed']" ] &&
    [ "$(field "$tmp/status.j" "r['runs'][1]['result']['check']")" = pass ] &&
    field "$tmp/status.j" "r['runs'][5]['result']['error']['message']" | grep -q "3 workers" ||
    fail "status's runs: $(field "$tmp/status.j" "r['runs']")"
[ "$(grep -c ' done ' "$tmp/status.txt")" = 5 ] && grep -q ' failed .*3 workers' "$tmp/status.txt" ||
    fail "status's lines"
echo "ok: status lists the 6 runs, the failed one as failed"

"$sdsinf" aws destroy --stack $stack >/dev/null 2>&1
[ -z "$(find "$SDSINF_SCRATCH" -mindepth 1)" ] || { find "$SDSINF_SCRATCH"; fail "files left"; }
echo "ok: destroyed"
