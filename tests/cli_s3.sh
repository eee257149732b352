#!/usr/bin/env bash
# cli_s3.sh SDSINF DATA - `sdsinf run --channel s3` against the emulator
# tests/with_aws.sh starts: distributed runs on local processes and threads,
# in both layouts, in the run's own bucket and under a prefix of an
# existing one, two at once in one bucket, and through a proxy refusing
# every 5th request (tests/aws_throttle_proxy.py: retries counted) equal
# `sdsinf infer` (categories and every score); a worker killed mid-run fails the run, naming it, with no object or bucket left;
# a coordinator killed mid-run (SIGKILL) leaves its bucket to `sdsinf
# clean`, which removes it; a throttled open (every 2nd request for the
# run's mark refused) has each retry counted; bad settings, and workers
# that time out, fail with a clear error, leaving nothing; with the shared data, the real
# 6,000 images on 8 workers reproduce the golden categories in the default
# layout (its requests printed).  with_aws.sh then checks that the
# emulator holds nothing.
set -eu
sdsinf=$1 data=$2
. "$(dirname "$0")/aws_cli.sh"
objects() { # bucket (or "" for all buckets): the count of buckets and objects
    "$py" - "$1" <<'PY'
import os, sys, botocore.session
s3 = botocore.session.get_session().create_client(
    "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
names = [sys.argv[1]] if sys.argv[1] else [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
n = 0 if sys.argv[1] else len(names)
for b in names:
    n += s3.list_objects_v2(Bucket=b).get("KeyCount", 0)
print(n)
PY
}
nothing_left() { # label
    local n
    n=$(objects "")
    [ "$n" = 0 ] || { echo "FAIL: $1 left $n buckets or objects"; exit 1; }
}
held() { # what the emulator holds: buckets and objects
    local n
    n=$(objects "")
    [ "$n" = 0 ] || echo "$n buckets or objects"
}
small_network
check() { # label, run arguments... ($KEEP set: buckets may stay)
    local label=$1; shift
    "$sdsinf" run --weights "$tmp/g" --images "$img" --scores "$tmp/s.tsv" \
        --out "$tmp/cats.tsv" --channel s3 "$@" --json | tail -n 1 >"$tmp/j"
    cmp "$tmp/s.tsv" "$tmp/single.tsv" || { echo "FAIL: $label: scores differ"; exit 1; }
    cmp "$tmp/cats.tsv" "$tmp/single-cats.tsv" || { echo "FAIL: $label: categories differ"; exit 1; }
    grep -q '"channel":"s3"' "$tmp/j"
    [ -n "${KEEP:-}" ] || nothing_left "$label"
    echo "ok: $label: requests $(grep -o '"requests":{[^}]*}' "$tmp/j")"
}
for layout in source pair; do
    check "W=4 local processes, layout=$layout" --workers 4 --channel-config layout=$layout
    check "W=3 threads, layout=$layout" --workers 3 --launcher threads \
        --channel-config layout=$layout
done
check "W=1" --workers 1
check "batches" --workers 5 --batch-size 16

echo "== throttled: every 5th request refused (503 SlowDown, 400 Throttling)"
throttled_run s3 4 nothing_left

echo "== a throttled open: every 2nd request for the run's mark (the workers' opens) refused"
throttled_open s3 created
nothing_left "the throttled open"

echo "== the coordinator killed mid-run (SIGKILL), then sdsinf clean"
kill_mid_run s3 held '[1-9]' # its objects

echo "== an existing bucket, under a prefix"
curl -s -f -X PUT "$AWS_ENDPOINT_URL/sdsinf-test-existing" >/dev/null
curl -s -f -X PUT --data-binary keep "$AWS_ENDPOINT_URL/sdsinf-test-existing/other/keep" >/dev/null
KEEP=1 check "bucket=, prefix=" --workers 4 \
    --channel-config bucket=sdsinf-test-existing,prefix=t1
n=$(objects sdsinf-test-existing)
[ "$n" = 1 ] || { echo "FAIL: the existing bucket holds $n objects, not its own 1"; exit 1; }
echo "ok: the run's objects went, the bucket's own stayed"

echo "== two runs at once in one bucket"
for i in 1 2; do
    "$sdsinf" run --weights "$tmp/g" --images "$img" --scores "$tmp/s$i.tsv" \
        --out "$tmp/c$i.tsv" --channel s3 --workers 4 \
        --channel-config bucket=sdsinf-test-existing,layout=$([ $i = 1 ] && echo source || echo pair) \
        >/dev/null &
done
wait %1 && wait %2 || { echo "FAIL: a concurrent run failed"; exit 1; }
for i in 1 2; do
    cmp "$tmp/s$i.tsv" "$tmp/single.tsv" && cmp "$tmp/c$i.tsv" "$tmp/single-cats.tsv" ||
        { echo "FAIL: concurrent run $i differs"; exit 1; }
done
n=$(objects sdsinf-test-existing)
[ "$n" = 1 ] || { echo "FAIL: the concurrent runs left $(( n - 1 )) objects"; exit 1; }
echo "ok: two concurrent runs in one bucket, each equal to infer"

curl -s -f -X DELETE "$AWS_ENDPOINT_URL/sdsinf-test-existing/other/keep" >/dev/null
curl -s -f -X DELETE "$AWS_ENDPOINT_URL/sdsinf-test-existing" >/dev/null

echo "== a worker killed at layer 3"
killed_worker s3 nothing_left

echo "== bad settings"
fails() { # label, text the error must hold, run arguments...
    local label=$1 want=$2; shift 2
    if "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 2 --channel s3 \
            --timeout-ms 5000 "$@" 2>"$tmp/err" >/dev/null; then
        echo "FAIL: $label: the run succeeded"; exit 1
    fi
    grep -q -- "$want" "$tmp/err" || { echo "FAIL: $label:"; cat "$tmp/err"; exit 1; }
    echo "ok: $label: $(cat "$tmp/err")"
}
fails "unknown setting" "bad setting 'color=red'" --channel-config color=red
fails "bad layout" "layout=source|pair" --channel-config layout=diagonal
fails "bad bucket name" "bucket=NAME" --channel-config bucket=Bad_Name
fails "no such bucket" "NoSuchBucket" --channel-config bucket=sdsinf-test-absent
AWS_ENDPOINT_URL=http://127.0.0.1:1 AWS_MAX_ATTEMPTS=1 \
    fails "no endpoint" "AWS_ENDPOINT_URL"
# every request answered 300 ms late, past the 100 ms a worker waits
if python3 "$aws_cli_proxy" --delay-ms 300 -- "$sdsinf" run --weights "$tmp/g" \
        --images "$img" --workers 3 --channel s3 --timeout-ms 100 2>"$tmp/err" >/dev/null; then
    echo "FAIL: workers that time out: the run succeeded"; exit 1
fi
grep -q "no message" "$tmp/err" || { echo "FAIL: workers that time out:"; cat "$tmp/err"; exit 1; }
echo "ok: workers that time out: $(head -n 1 "$tmp/err")"
nothing_left "the failed runs"

gc=$data/graphchallenge
if [ -d "$gc/neuron1024" ]; then
    echo "== the real 1024 x 120 network, 6,000 images, 8 workers (the default layout)"
    "$sdsinf" run --weights "$gc/neuron1024" --images "$gc/sparse-images-1024-first6000.tsv" \
        --workers 8 --channel s3 \
        --check "$gc/neuron1024-l120-categories-first6000.tsv" --json | tail -n 1 >"$tmp/j"
    grep -q '"check":"pass"' "$tmp/j"
    echo "requests: $(grep -o '"requests":{[^}]*}' "$tmp/j")"
    nothing_left "the real run"
else
    echo "SKIP (real data): $gc not found"
fi
echo PASS
