#!/usr/bin/env bash
# cli_reference.sh SDSINF DATA - generated networks and inputs agree with the
# independent numpy reference (tests/ref_dnn.py): categories equal, argmax
# equal, maxima within float32 rounding.
set -eu
sdsinf=$1
here=$(cd "$(dirname "$0")" && pwd)
if ! python3 -c 'import numpy' 2>/dev/null; then
    echo "SKIP: python3 with numpy is needed for the reference"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for shape in "64 6 50 1" "100 10 80 2" "256 30 200 3" "1024 40 150 4" "300 12 64 5"; do
    set -- $shape
    n=$1 l=$2 m=$3 seed=$4
    d=$tmp/g$n-$l
    echo "== N=$n L=$l images=$m seed=$seed"
    "$sdsinf" generate --neurons "$n" --layers "$l" --images "$m" --seed "$seed" --out "$d" --json
    "$sdsinf" infer --weights "$d" --images "$d/sparse-images-$n.tsv" \
        --check "$d/n$n-l$l-categories.tsv" --scores "$d/scores.tsv" --quiet
    bias=$(head -n 1 "$d/bias.tsv" | cut -f 2) # `layer bias`, same every layer
    python3 "$here/ref_dnn.py" --weights "$d" --images "$d/sparse-images-$n.tsv" \
        --neurons "$n" --layers "$l" --bias "$bias" --categories "$d/ref-cats.tsv" --scores "$d/ref-scores.tsv"
    cmp "$d/ref-cats.tsv" "$d/n$n-l$l-categories.tsv"
    python3 - "$d/scores.tsv" "$d/ref-scores.tsv" <<'PY'
import sys
a = [l.split() for l in open(sys.argv[1])]
b = [l.split() for l in open(sys.argv[2])]
assert len(a) == len(b), (len(a), len(b))
for x, y in zip(a, b):
    assert x[0] == y[0] and x[1] == y[1], (x, y)
    fx, fy = float(x[2]), float(y[2])
    assert abs(fx - fy) <= 1e-5 * max(1.0, abs(fy)), (x, y)
print(f"{len(a)} images: argmax equal, maxima within float32 rounding")
PY
done
echo "PASS"
