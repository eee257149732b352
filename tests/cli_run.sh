#!/usr/bin/env bash
# cli_run.sh SDSINF DATA - distributed runs from the command line equal the
# single-process run for several worker counts, launchers, channels and
# launch trees, also when the workers load their shards from --plan (a
# damaged or missing shard is named with its worker); a worker killed
# mid-run ends the run at once with an error naming it and leaves no
# process and no --out or --scores file behind; the fs channel's requests
# are its objects' puts and deletes alone; with the shared data, the
# real 6,000 images on 8 workers reproduce the golden categories.
set -eu
sdsinf=$1 data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$sdsinf" generate --neurons 128 --layers 8 --images 60 --seed 5 --out "$tmp/g" >/dev/null
img=$tmp/g/sparse-images-128.tsv
"$sdsinf" infer --weights "$tmp/g" --images "$img" --scores "$tmp/single.tsv" --quiet
check() { # label, run arguments...
    local label=$1; shift
    "$sdsinf" run --weights "$tmp/g" --images "$img" --scores "$tmp/s.tsv" "$@" | tail -n 1
    cmp "$tmp/s.tsv" "$tmp/single.tsv" || { echo "FAIL: $label differs"; exit 1; }
    echo "ok: $label"
}
for w in 1 2 3 8 20; do
    check "W=$w local processes" --workers $w
done
check "W=8 threads" --workers 8 --launcher threads
check "8 x 1 level" --workers 8 --bfr 8 --nlevels 1
check "4 x 2 levels" --workers 20 --bfr 4 --nlevels 2
check "fs channel" --workers 4 --channel fs --channel-config "$tmp/fs"
[ -z "$(ls -A "$tmp/fs" 2>/dev/null)" ] || { echo "FAIL: the fs channel left objects"; exit 1; }
# fs requests are what an object store would bill: a put per message and
# per worker's start note (its report's put, the last, carries the counts
# and so is not in them), a delete per object (the messages, and each
# worker's start note and report), none for the channel's own bookkeeping
# (open files, marks)
"$sdsinf" run --weights "$tmp/g" --images "$img" --workers 4 --channel fs --json |
    tail -n 1 >"$tmp/j"
python3 - "$tmp/j" <<'PY' || { echo "FAIL: fs requests"; cat "$tmp/j"; exit 1; }
import json, sys
j = json.load(open(sys.argv[1]))
r, m, w = j["requests"], j["messages_sent"], j["workers"]
assert r["send"] == m + w and r["remove"] == m + 2 * w and r["list"] == 0, (r, m, w)
PY
echo "ok: fs requests: $(cat "$tmp/j" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')"
check "raw codec, batches" --workers 3 --codec raw --batch-size 16
check "1 KiB messages (blocks as chunks)" --workers 3 --codec raw --max-message 1024

echo "== the workers load their shards from the plan directory"
"$sdsinf" partition --weights "$tmp/g" --workers 4 --out "$tmp/plan" >/dev/null
check "W=4, shards from --plan" --plan "$tmp/plan"
check "W=4 threads, shards from --plan" --plan "$tmp/plan" --launcher threads
shard=$tmp/plan/shard-3.sdsinf
size=$(wc -c <"$shard")
printf 'SDSINFCORRUPTED!' | dd of="$shard" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
for la in local threads; do
    if "$sdsinf" run --weights "$tmp/g" --images "$img" --plan "$tmp/plan" \
            --launcher $la 2>"$tmp/err"; then echo "FAIL: a damaged shard ran"; exit 1; fi
    cat "$tmp/err"
    grep -q "worker 3" "$tmp/err" && grep -q "shard-3.sdsinf" "$tmp/err"
done
rm "$shard"
if "$sdsinf" run --weights "$tmp/g" --images "$img" --plan "$tmp/plan" 2>"$tmp/err"; then
    echo "FAIL: a missing shard ran"; exit 1
fi
cat "$tmp/err"
grep -q "worker 3: .*shard-3.sdsinf" "$tmp/err"

echo "== a bad launch tree is refused"
if "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 10 --bfr 4 --nlevels 2 2>"$tmp/err"; then exit 1; fi
grep -q "choose workers" "$tmp/err"

echo "== a worker killed at layer 3"
start=$(date +%s)
if SDSINF_TEST_KILL=2:3 "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 6 \
        --timeout-ms 5000 2>"$tmp/err"; then echo "FAIL: the run succeeded"; exit 1; fi
cat "$tmp/err"
grep -q "worker 2 died" "$tmp/err"
[ $(( $(date +%s) - start )) -le 30 ]
sleep 0.2
if pgrep -f "$tmp/g" >/dev/null; then echo "FAIL: processes left behind"; exit 1; fi

echo "== a failed run leaves no output, a run no temporary file"
if SDSINF_TEST_KILL=1:2 "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 3 \
        --out "$tmp/fail.cat" --scores "$tmp/fail.scores" 2>"$tmp/err"; then
    echo "FAIL: the run succeeded"; exit 1
fi
grep -q "worker 1 died" "$tmp/err"
if "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 3 --out "$tmp/fail.cat" \
        --scores "$tmp/no-such-dir/s.tsv" 2>"$tmp/err"; then
    echo "FAIL: the run succeeded"; exit 1
fi
if "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 3 --out "$tmp/fail.cat" \
        --scores "$tmp/fail.scores" --metrics "$tmp/no-such-dir/m" 2>"$tmp/err"; then
    echo "FAIL: the run succeeded"; exit 1
fi
for f in "$tmp"/fail.*; do [ -e "$f" ] && { echo "FAIL: $f left behind"; exit 1; }; done
"$sdsinf" run --weights "$tmp/g" --images "$img" --workers 3 --out "$tmp/ok.cat" \
    --scores "$tmp/ok.scores" >/dev/null
cmp "$tmp/ok.scores" "$tmp/single.tsv"
[ -s "$tmp/ok.cat" ]
for f in "$tmp"/*.tmp*; do [ -e "$f" ] && { echo "FAIL: $f left behind"; exit 1; }; done

gc=$data/graphchallenge
if [ -d "$gc/neuron1024" ]; then
    echo "== the real 1024 x 120 network, 6,000 images, 8 workers"
    "$sdsinf" run --weights "$gc/neuron1024" --images "$gc/sparse-images-1024-first6000.tsv" \
        --workers 8 --check "$gc/neuron1024-l120-categories-first6000.tsv" --json | tail -n 1 | tee "$tmp/j"
    grep -q '"check":"pass"' "$tmp/j"
else
    echo "SKIP (real data): $gc not found"
fi
echo PASS
