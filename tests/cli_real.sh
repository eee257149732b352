#!/usr/bin/env bash
# cli_real.sh SDSINF DATA - the real GraphChallenge 1024x120 network and its
# 6,000 images reproduce the golden categories, from TSV and from a bundle,
# with any thread count and batch size giving the same per-image scores.
set -eu
sdsinf=$1 data=$2
gc=$data/graphchallenge
if [ ! -d "$gc/neuron1024" ]; then
    echo "SKIP: $gc/neuron1024 not found (the shared reference data is absent)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
images=$gc/sparse-images-1024-first6000.tsv
gold=$gc/neuron1024-l120-categories-first6000.tsv

echo "== TSV model, 2 threads, --check"
"$sdsinf" infer --weights "$gc/neuron1024" --images "$images" --check "$gold" \
    --threads 2 --out "$tmp/cats.tsv" --scores "$tmp/s2.tsv" --json | tee "$tmp/j"
grep -q '"check":"pass"' "$tmp/j"
cmp "$tmp/cats.tsv" "$gold"

echo "== bundle round trip"
"$sdsinf" convert --weights "$gc/neuron1024" --out "$tmp/m.sdsinf" --json
"$sdsinf" infer --weights "$tmp/m.sdsinf" --images "$images" --check "$gold" \
    --threads 1 --scores "$tmp/s1.tsv" --json | tee "$tmp/j"
grep -q '"check":"pass"' "$tmp/j"

echo "== batches of 1000 and the C baseline kernel give identical scores"
SDSINF_KERNEL=c "$sdsinf" infer --weights "$tmp/m.sdsinf" --images "$images" \
    --batch-size 1000 --threads 3 --scores "$tmp/sb.tsv" --check "$gold" --quiet
cmp "$tmp/s1.tsv" "$tmp/s2.tsv"
cmp "$tmp/s1.tsv" "$tmp/sb.tsv"
echo "PASS"
