#!/usr/bin/env bash
# cli_partition.sh SDSINF DATA - plans from the command line: the volumes
# every method gives on a generated network, a plan directory that infer can
# use the shards of, the SDS-Inf layout both ways, and, with the shared
# data, the real network and SDS-Inf's published partition (430,258 pairs).
set -eu
sdsinf=$1 data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])['$1'])"; }

echo "== generated 256 x 12, 6 workers"
"$sdsinf" generate --neurons 256 --layers 12 --images 80 --seed 4 --out "$tmp/g" >/dev/null
for m in block random hypergraph; do
    "$sdsinf" partition --weights "$tmp/g" --workers 6 --method $m --out "$tmp/p-$m" --json | tail -n 1 | tee "$tmp/$m.json"
done
hg=$(field row_target_pairs < "$tmp/hypergraph.json")
bl=$(field row_target_pairs < "$tmp/block.json")
[ "$hg" -lt "$bl" ] || { echo "hypergraph ($hg) is no better than blocks ($bl)"; exit 1; }
python3 -c "import sys; assert float(sys.argv[1]) <= 0.03" "$(field imbalance < "$tmp/hypergraph.json")"
ls "$tmp/p-hypergraph"/shard-5.sdsinf >/dev/null

echo "== SDS-Inf layout: export, import, same plan"
"$sdsinf" sdsinf-export --weights "$tmp/g" --plan "$tmp/p-hypergraph" \
    --images "$tmp/g/sparse-images-256.tsv" --out "$tmp/sds"
"$sdsinf" sdsinf-import --from "$tmp/sds" --neurons 256 --bias -0.3 --out "$tmp/p2" \
    --weights-out "$tmp/w2" --images-out "$tmp/i2.tsv" --json | tail -n 1 | tee "$tmp/imp.json"
[ "$(field row_target_pairs < "$tmp/imp.json")" = "$hg" ]
"$sdsinf" infer --weights "$tmp/w2" --images "$tmp/i2.tsv" --quiet --out "$tmp/c2.tsv"
cmp "$tmp/c2.tsv" "$tmp/g/n256-l12-categories.tsv"

echo "== bad requests"
if "$sdsinf" partition --weights "$tmp/g" --workers 300 2>"$tmp/err"; then exit 1; fi
grep -q "at most 256 workers" "$tmp/err"
if "$sdsinf" sdsinf-import --from "$tmp/sds" --weights "$data/none" --out "$tmp/x" 2>/dev/null; then exit 1; fi

gc=$data/graphchallenge/neuron1024
if [ ! -d "$gc" ]; then
    echo "SKIP (rest): $gc not found (the shared reference data is absent)"
    echo PASS
    exit 0
fi
echo "== the real 1024 x 120 network, 8 workers"
"$sdsinf" convert --weights "$gc" --out "$tmp/n1024.sdsinf" >/dev/null
"$sdsinf" partition --weights "$tmp/n1024.sdsinf" --workers 8 --method block --json | tail -n 1 > "$tmp/b.json"
[ "$(field row_target_pairs < "$tmp/b.json")" = 860160 ]
"$sdsinf" sdsinf-import --from "$data/sds-inf-reference/conn-1024n-8w" \
    --weights "$tmp/n1024.sdsinf" --out "$tmp/ref" --json | tail -n 1 | tee "$tmp/ref.json"
[ "$(field listed_pairs < "$tmp/ref.json")" = 430258 ]
"$sdsinf" partition --weights "$tmp/n1024.sdsinf" --workers 8 --json | tail -n 1 > "$tmp/h.json"
python3 - "$tmp/h.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"hypergraph: {d['row_target_pairs']} pairs, imbalance {d['imbalance']:.4f}, {d['seconds']:.1f} s")
assert d["row_target_pairs"] <= 120000 and d["imbalance"] <= 0.03
PY
echo PASS
