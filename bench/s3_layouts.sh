#!/usr/bin/env bash
# s3_layouts.sh SDSINF [DATA] - the s3 channel's two layouts compared in
# billable requests: `sdsinf run --channel s3` with layout=source and
# layout=pair on generated data (1024 neurons x 24 layers, 1,000 images)
# and, where DATA/graphchallenge is at hand, on the real network (1024 x
# 120, the first 6,000 images), 8 workers, hypergraph plan; each run
# checked against `sdsinf infer` (generated) or the golden categories
# (real).  Prints PUTs, GETs (of them empty), lists, deletes, seconds and
# the requests' cost at us-east-1 list prices (PUT/LIST $0.005 per 1,000,
# GET $0.0004 per 1,000; aws.amazon.com/s3/pricing, 2026-12).  Runs the
# emulator itself: bench/s3_layouts.sh build/sdsinf ../shared/data
. "$(dirname "$0")/under_aws.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$sdsinf" generate --neurons 1024 --layers 24 --images 1000 --seed 3 --out "$tmp/g" >/dev/null
"$sdsinf" infer --weights "$tmp/g" --images "$tmp/g/sparse-images-1024.tsv" \
    --out "$tmp/gold.tsv" --quiet
printf '%-10s %-7s %7s %7s %7s %5s %6s %8s %10s\n' data layout PUT GET empty list delete seconds cost_usd
one() { # label, layout, run arguments...
    local label=$1 layout=$2; shift 2
    "$sdsinf" run --workers 8 --channel s3 --channel-config "layout=$layout" "$@" \
        --json | tail -n 1 >"$tmp/j"
    python3 - "$tmp/j" "$label" "$layout" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j.get("check") == "pass", j.get("check")
r = j["requests"]
cost = (r["send"] + r["list"]) * 0.005e-3 + r["receive"] * 0.0004e-3
print("%-10s %-7s %7d %7d %7d %5d %6d %8.2f %10.5f" % (sys.argv[2], sys.argv[3],
      r["send"], r["receive"], r["empty"], r["list"], r["remove"], j["seconds"], cost))
PY
}
for layout in source pair; do
    one generated $layout --weights "$tmp/g" --images "$tmp/g/sparse-images-1024.tsv" \
        --check "$tmp/gold.tsv"
done
gc=$data/graphchallenge
if [ -n "$data" ] && [ -d "$gc/neuron1024" ]; then
    for layout in source pair; do
        one real $layout --weights "$gc/neuron1024" \
            --images "$gc/sparse-images-1024-first6000.tsv" \
            --check "$gc/neuron1024-l120-categories-first6000.tsv"
    done
else
    echo "(real data: ${gc:-DATA/graphchallenge} not found; skipped)"
fi
