#!/usr/bin/env bash
# bench_partition.sh [SDSINF] [DATA] - partition quality and time: the real
# GraphChallenge 1024x120 network for 4, 8, 16, 32 and 62 workers with every
# method, SDS-Inf's published 8-worker partition for comparison, and a
# generated 4096x120 network with 8 workers.  Prints a table and one JSON
# line per run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
sdsinf=${1:-$here/build/sdsinf}
data=${2:-$here/../shared/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() { # label weights workers method
    local out
    out=$("$sdsinf" partition --weights "$2" --workers "$3" --method "$4" --json | tail -n 1)
    python3 - "$1" "$out" <<'PY'
import json, sys
d = json.loads(sys.argv[2])
print(f"{sys.argv[1]:<14} W={d['workers']:<3} {d['method']:<11} pairs {d['row_target_pairs']:>9,}"
      f"  imbalance {100*d['imbalance']:5.2f}%  {d['seconds']:7.2f} s")
PY
    echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); d.pop('pairs_per_layer'); d['network']='$1'; print(json.dumps(d))" >> "$tmp/json"
}

if [ -d "$data/graphchallenge/neuron1024" ]; then
    "$sdsinf" convert --weights "$data/graphchallenge/neuron1024" --out "$tmp/n1024.sdsinf" >/dev/null
    for w in 4 8 16 32 62; do
        for method in block random hypergraph; do
            run n1024-l120 "$tmp/n1024.sdsinf" "$w" "$method"
        done
    done
    if [ -d "$data/sds-inf-reference/conn-1024n-8w" ]; then
        "$sdsinf" sdsinf-import --from "$data/sds-inf-reference/conn-1024n-8w" \
            --weights "$tmp/n1024.sdsinf" --out "$tmp/sdsinf-plan" --json | tail -n 1 |
            python3 -c "import json,sys; d=json.load(sys.stdin); print(f\"{'n1024-l120':<14} W={d['workers']:<3} {'SDS-Inf':<11} pairs {d['listed_pairs']:>9,}  (as its conn files list them; {d['row_target_pairs']:,} for every row)\")"
    fi
else
    echo "SKIP: $data/graphchallenge/neuron1024 not found"
fi
"$sdsinf" generate --neurons 4096 --layers 120 --images 1 --out "$tmp/g4096" >/dev/null
"$sdsinf" convert --weights "$tmp/g4096" --out "$tmp/g4096.sdsinf" >/dev/null
for method in block random hypergraph; do
    run gen-n4096-l120 "$tmp/g4096.sdsinf" 8 "$method"
done
cat "$tmp/json"
