#!/usr/bin/env bash
# cli_demo.sh SDSINF DATA - the demo runs the whole pipeline end to end
# (small sizes): generate, convert, partition, a distributed run on local
# processes, and checks it against one process and the golden categories;
# it leaves the bundle, the plan and the run's metrics in its directory.
set -eu
sdsinf=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$sdsinf" demo --neurons 256 --layers 24 --images 300 --out "$tmp/demo" | tee "$tmp/log"
for step in "1. generate" "2. convert" "3. partition" "4. run" "5. infer" "6. verify" \
        "row-target pairs" "bytes per image" "demo passed"; do
    grep -qF "$step" "$tmp/log" || { echo "FAIL: no '$step' in the demo's output"; exit 1; }
done
grep -q "4 local processes" "$tmp/log"
for f in model.sdsinf plan/plan.bin metrics.csv metrics-layers.csv metrics.json; do
    [ -s "$tmp/demo/$f" ] || { echo "FAIL: the demo left no $f"; exit 1; }
done
# 4 workers x (24 layers + 1) layer records
[ "$(wc -l <"$tmp/demo/metrics-layers.csv")" -eq 101 ]

echo "== --workers 3 --json"
"$sdsinf" demo --neurons 128 --layers 8 --images 100 --workers 3 --out "$tmp/d3" --json | tail -n 1 | tee "$tmp/j"
grep -q '"workers":3,' "$tmp/j"
grep -q '"check":"pass"' "$tmp/j"
echo "PASS"
