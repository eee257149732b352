#!/usr/bin/env bash
# cli_s3_paths.sh SDSINF - s3:// locations wherever a command takes a path,
# against the emulator tests/with_aws.sh starts: a model (layer files and a
# bundle), a plan, images and golden categories uploaded, the local copies
# moved away, then `sdsinf run` on the fs and sqs channels reading them all
# from S3 and writing --out, --scores and --metrics there: equal, byte for
# byte, to a local `sdsinf infer`; the worker specs name the plan and the
# staged inputs in S3 (each worker fetches its own); the run JSON's
# storage_requests count every S3 request the run made, its workers'
# fetches included (through a proxy that counts them, refusing every 7th);
# a coordinator killed (SIGKILL) while its staged inputs and queues exist
# leaves them to `sdsinf clean`, which removes both, as it removes the
# copy a process killed as it fetched left; partition and infer
# with S3 in and out; a missing key or bucket fails clearly (exit 1)
# writing nothing, as does a run whose worker finds no shard (the workers
# it stopped as they fetched leave no copy in the scratch directory).  with_aws.sh
# then checks that the emulator holds nothing (the staged inputs went).
set -eu
sdsinf=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
. "$(dirname "$0")/aws_cli.sh"
B=sdsinf-test-paths
S3=$AWS_ENDPOINT_URL/$B
on_exit() { # every object and the bucket, also after a failure
    for k in $(keys); do curl -s -f -X DELETE "$S3/$k" >/dev/null; done
    curl -s -X DELETE "$S3" >/dev/null
}
put() { curl -s -f -X PUT --data-binary "@$1" "$S3/$2" >/dev/null || fail "upload $2"; }
get() { curl -s -f -o "$2" "$S3/$1" || fail "no object $1"; }
absent() { # key: no such object
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$S3/$1")" = 404 ] || fail "$1 was written"
}
keys() { # the bucket's keys, one a line
    curl -s -f "$S3?list-type=2" | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g' | sort
}

small_network
"$sdsinf" convert --weights "$tmp/g" --out "$tmp/model.sdsinf" >/dev/null
"$sdsinf" partition --weights "$tmp/g" --workers 4 --out "$tmp/plan" >/dev/null

curl -s -f -X PUT "$S3" >/dev/null || fail "cannot make bucket $B"
for f in "$tmp"/g/n128-l?.tsv "$tmp/g/bias.tsv"; do put "$f" "model/$(basename "$f")"; done
put "$tmp/model.sdsinf" bundle/model.sdsinf
for f in "$tmp"/plan/*; do put "$f" "plan/$(basename "$f")"; done
put "$tmp/g/sparse-images-128.tsv" in/images.tsv
put "$tmp/g/n128-l8-categories.tsv" in/gold.tsv
# from here on nothing local to read: every input is in S3 only
mkdir "$tmp/moved"
mv "$tmp/g" "$tmp/plan" "$tmp/model.sdsinf" "$tmp/moved/"
before=$(keys)

echo "== run: model, plan, images and check from S3; outputs to S3"
run() { # label, channel, weights location, more arguments...
    local label=$1 ch=$2 w=$3; shift 3
    rm -rf "$tmp/specs"
    (cd "$tmp" && "$sdsinf" run --weights "$w" --plan s3://$B/plan \
        --images s3://$B/in/images.tsv --check s3://$B/in/gold.tsv \
        --out s3://$B/out/$label-cats.tsv --scores s3://$B/out/$label-scores.tsv \
        --metrics s3://$B/out/$label-m --channel "$ch" --json "$@") \
        >"$tmp/j" 2>"$tmp/e" || { cat "$tmp/e"; fail "$label: run failed"; }
    get "out/$label-scores.tsv" "$tmp/s.tsv"
    get "out/$label-cats.tsv" "$tmp/c.tsv"
    cmp "$tmp/s.tsv" "$tmp/single.tsv" || fail "$label: scores differ from infer"
    cmp "$tmp/c.tsv" "$tmp/single-cats.tsv" || fail "$label: categories differ"
    for m in .csv -layers.csv .json; do get "out/$label-m$m" "$tmp/m$m"; done
    grep -q '"check":"pass"' "$tmp/j" || fail "$label: check did not pass"
    grep -q "\"scores\":\"s3://$B/out/$label-scores.tsv\"" "$tmp/j" ||
        fail "$label: the JSON does not name the scores' location"
    grep -q "\"storage_requests\":{\"send\":[1-9]" "$tmp/j" || fail "$label: no storage_requests"
    "$sdsinf" cost "$tmp/j" >"$tmp/cost" || fail "$label: sdsinf cost"
    echo "ok: $label: $(grep -o "\"storage_requests\":{[^}]*}" "$tmp/j"), $(grep -o "\"cost_usd\":[^,]*" "$tmp/j")"
}
run fs fs s3://$B/model
run sqs sqs s3://$B/bundle/model.sdsinf
run threads fs s3://$B/model --launcher threads

echo "== workers that share nothing with the coordinator but S3"
# external workers, started by hand from their specs, with a scratch
# directory of their own, once the coordinator's staged inputs are deleted
export SDSINF_SCRATCH=$tmp/scratch
mkdir "$SDSINF_SCRATCH" "$tmp/wscratch" "$tmp/elsewhere"
timeout 300 "$sdsinf" run --launcher external --specs-out "$tmp/specs" \
    --weights s3://$B/model --plan s3://$B/plan --images s3://$B/in/images.tsv \
    --scores s3://$B/out/ext-scores.tsv --channel sqs >"$tmp/o" 2>"$tmp/e" &
runpid=$!
for _ in $(seq 600); do
    [ "$(ls "$tmp/specs" 2>/dev/null | grep -c '^worker-[0-9]*\.spec$')" = 4 ] && break
    sleep 0.1
done
grep -q "^plan s3://$B/plan$" "$tmp/specs/worker-0.spec" &&
    grep -q "^inputs s3://$B/sdsinf-" "$tmp/specs/worker-0.spec" ||
    { kill "$runpid"; cat "$tmp/specs/worker-0.spec"; fail "the spec's plan or inputs are not in S3"; }
staged=$(ls "$SDSINF_SCRATCH"/sdsinf-*/work/inputs-*.sdsinf | wc -l)
[ "$staged" = 4 ] || fail "the coordinator staged $staged inputs files, not 4"
rm -f "$SDSINF_SCRATCH"/sdsinf-*/work/*
pids=()
for i in 0 1 2 3; do
    (cd "$tmp/elsewhere" && SDSINF_SCRATCH=$tmp/wscratch exec "$sdsinf" worker \
        --spec "$tmp/specs/worker-$i.spec") & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "external: a worker failed"; done
wait "$runpid" || { cat "$tmp/e"; fail "external: the run failed"; }
unset SDSINF_SCRATCH
get out/ext-scores.tsv "$tmp/s.tsv"
cmp "$tmp/s.tsv" "$tmp/single.tsv" || fail "external: scores differ from infer"
[ -z "$(find "$tmp/wscratch" -mindepth 1)" ] || fail "the workers left files"
echo "ok: external workers read plan, shard and inputs from S3 only"

echo "== every S3 request counted in storage_requests, the workers' fetches too"
AWS_MAX_ATTEMPTS=10 python3 "$aws_cli_proxy" --every 7 --stats "$tmp/proxy" -- \
    "$sdsinf" run --weights s3://$B/model --plan s3://$B/plan --images s3://$B/in/images.tsv \
    --scores s3://$B/out/counted-scores.tsv --channel fs --json | tail -n 1 >"$tmp/j" ||
    fail "counted: the run failed"
get out/counted-scores.tsv "$tmp/s.tsv"
cmp "$tmp/s.tsv" "$tmp/single.tsv" || fail "counted: scores differ from infer"
python3 - "$tmp/j" "$tmp/proxy" <<'PY' || fail "counted: $(cat "$tmp/j")"
import json, sys
r = json.load(open(sys.argv[1]))["storage_requests"]
p = json.load(open(sys.argv[2]))
made = r["send"] + r["receive"] + r["list"] + r["remove"] + r["retries"]
# the fs channel makes none: every request the proxy saw is a location's
assert made == p["requests"], (made, p)
assert r["retries"] == p["refused"] > 0, (r, p)
# the 4 workers each fetched the plan, its shard and its inputs
assert r["receive"] >= 3 * 4, r
PY
echo "ok: $(cat "$tmp/proxy") = $(grep -o '"storage_requests":{[^}]*}' "$tmp/j")"

echo "== the coordinator killed (SIGKILL) with its inputs staged, then sdsinf clean"
queues() { # the emulator's queue URLs
    curl -s -X POST "$AWS_ENDPOINT_URL/" --aws-sigv4 "aws:amz:$AWS_REGION:sqs" \
        -u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -d 'Action=ListQueues&Version=2012-11-05' | grep -o '<QueueUrl>[^<]*' || true
}
staged() { # what the runs staged in S3, and the queues
    keys | grep '^sdsinf-' || true
    queues
}
# the external launcher's coordinator waits for workers nobody starts
kill_coordinator "killed coordinator" staged --launcher external \
    --specs-out "$tmp/specs-killed" --weights s3://$B/model --plan s3://$B/plan \
    --images s3://$B/in/images.tsv --channel sqs
grep -q "\"channel\":\"sqs\",\"items\":5,\"staged\":\"s3://$B/sdsinf-" "$tmp/clean" ||
    { cat "$tmp/clean"; fail "clean did not name the queues and the staged inputs"; }

echo "== a process killed (SIGKILL) as it fetches, then sdsinf clean"
mkdir "$tmp/fetch-scratch"
SDSINF_SCRATCH=$tmp/fetch-scratch python3 "$aws_cli_proxy" --delay-ms 300 -- \
    "$sdsinf" infer --weights s3://$B/model --images s3://$B/in/images.tsv \
    --quiet >/dev/null 2>&1 &
proxy=$!
for _ in $(seq 200); do
    compgen -G "$tmp/fetch-scratch/sdsinf-fetch-*" >/dev/null && break
    sleep 0.05
done
kill -KILL "$(pgrep -P "$proxy")" || fail "no infer to kill"
wait "$proxy" || true
copy=$(ls "$tmp/fetch-scratch")
[ -n "$copy" ] || fail "the killed infer left no copy to remove"
SDSINF_SCRATCH=$tmp/fetch-scratch "$sdsinf" clean >"$tmp/o" || fail "clean failed"
[ -z "$(ls -A "$tmp/fetch-scratch")" ] || fail "clean left $(ls "$tmp/fetch-scratch")"
echo "ok: clean removed $copy: $(tail -n 1 "$tmp/o")"

echo "== partition and infer, in and out of S3"
"$sdsinf" partition --weights s3://$B/bundle/model.sdsinf --workers 2 \
    --out s3://$B/plan2 >/dev/null || fail "partition to S3"
get plan2/plan.bin "$tmp/p.bin"
get plan2/shard-1.sdsinf "$tmp/p.shard"
"$sdsinf" infer --weights s3://$B/model --images s3://$B/in/images.tsv \
    --scores s3://$B/out/infer-scores.tsv --quiet || fail "infer from S3"
get out/infer-scores.tsv "$tmp/s.tsv"
cmp "$tmp/s.tsv" "$tmp/single.tsv" || fail "infer: scores differ"
"$sdsinf" convert --weights s3://$B/model --out s3://$B/out/conv.sdsinf --json \
    | tail -n 1 | grep -q '"neurons":128,"layers":8,"bytes":null' ||
    fail "convert --out s3:// --json printed no summary"
get out/conv.sdsinf "$tmp/conv.sdsinf"
cmp "$tmp/conv.sdsinf" "$tmp/moved/model.sdsinf" || fail "convert: bundles differ"
echo "ok: partition and convert --out s3://, infer --weights --images --scores s3://"

echo "== missing keys and buckets: a clear error, nothing written"
mkdir "$tmp/failed-scratch"
expect_fail() { # label, message pattern, run arguments...
    local label=$1 pat=$2; shift 2
    set +e
    (cd "$tmp" && SDSINF_SCRATCH=$tmp/failed-scratch "$sdsinf" run --channel fs \
        --out s3://$B/bad/cats.tsv --scores s3://$B/bad/scores.tsv \
        --metrics s3://$B/bad/m "$@") >"$tmp/o" 2>"$tmp/e"
    local rc=$?
    set -e
    [ "$rc" = 1 ] || { cat "$tmp/e"; fail "$label: exit $rc, not 1"; }
    grep -q -- "$pat" "$tmp/e" || { cat "$tmp/e"; fail "$label: no '$pat' in the message"; }
    for k in bad/cats.tsv bad/scores.tsv bad/m.csv bad/m.json; do absent "$k"; done
    [ -z "$(ls -A "$tmp/failed-scratch")" ] ||
        fail "$label: left in the scratch directory: $(ls "$tmp/failed-scratch")"
    echo "ok: $label: $(head -c 200 "$tmp/e")"
}
expect_fail "no such key" "s3://$B/in/nope.tsv: no such object.*NoSuchKey" \
    --weights s3://$B/model --plan s3://$B/plan --images s3://$B/in/nope.tsv
expect_fail "no such bucket" "s3://sdsinf-no-bucket/model.*NoSuchBucket" \
    --weights s3://sdsinf-no-bucket/model --images s3://$B/in/images.tsv --workers 2
expect_fail "no such plan" "s3://$B/noplan/plan.bin: no such object" \
    --weights s3://$B/model --plan s3://$B/noplan --images s3://$B/in/images.tsv
expect_fail "bad location" "not an S3 location" \
    --weights s3://$B/model --plan s3://$B//plan --images s3://$B/in/images.tsv
# a worker whose shard is gone fails the run: it read from S3 alone
curl -s -f -X DELETE "$S3/plan/shard-2.sdsinf" >/dev/null
expect_fail "a worker without its shard" "worker 2.*shard-2.sdsinf: no such object" \
    --weights s3://$B/model --plan s3://$B/plan --images s3://$B/in/images.tsv

after=$(keys)
staged=$(echo "$after" | grep -c '^sdsinf-' || true)
[ "$staged" = 0 ] || fail "the runs left $staged staged objects"
echo "ok: no staged inputs left behind"
