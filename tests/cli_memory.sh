#!/usr/bin/env bash
# cli_memory.sh - sizes that cannot fit are refused before anything is
# allocated or written: exit 1, a message with the estimate and the limit,
# no output left; --max-memory takes sizes (512M, 8G, bytes) and refuses
# others with exit 2; image ids far beyond the images present (or beyond
# --images-count) fail naming file:line; normal runs pass the default limit.
# usage: cli_memory.sh SDSINF [DATA_DIR]   (the data directory is unused)
set -u

bin=${1:?usage: cli_memory.sh SDSINF [DATA_DIR]}
if [ ! -x "$bin" ]; then
    echo "skip: $bin is not an executable"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-cli-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
. "$(dirname "$0")/cli_check.sh"

# absent PATH WHAT: PATH must not exist.
absent() {
    if [ -e "$1" ]; then
        echo "FAIL: $2: $1 was left behind"
        failures=$((failures + 1))
    else
        echo "ok:   $2: nothing at $1"
    fi
}

echo "== generate: refused at once, before allocating or writing"
start=$(date +%s)
check 1 "generate: needs about 50.7 GiB (1024 neurons x 100000 layers x 32 nonzeros, 10 images), more than the 100.0 MiB allowed (--max-memory); use fewer layers or neurons, or raise --max-memory" \
    "generate --layers 100000 --max-memory 100M" \
    "$bin" generate --neurons 1024 --layers 100000 --images 10 \
    --out "$tmp/big" --max-memory 100M
absent "$tmp/big" "generate refused"
check 1 "more than the" "generate --layers 100000, default limit" \
    "$bin" generate --neurons 1024 --layers 100000 --images 10 \
    --out "$tmp/big"
absent "$tmp/big" "generate refused (default limit)"
if [ $(($(date +%s) - start)) -gt 5 ]; then
    echo "FAIL: the refusals took over 5 s: something was allocated first"
    failures=$((failures + 1))
fi
check 1 "use fewer images" "generate, too many images" \
    "$bin" generate --neurons 64 --layers 2 --images 100000000 \
    --out "$tmp/big" --max-memory 1G
absent "$tmp/big" "generate refused (images)"

echo "== --max-memory sizes: bad ones are usage errors (exit 2)"
for bad in 12X 0 -5 M 1.5.2 8GB7; do
    check 2 "--max-memory needs a size" "--max-memory $bad" \
        "$bin" generate --neurons 64 --layers 2 --images 10 \
        --out "$tmp/x" --max-memory "$bad"
done
absent "$tmp/x" "bad --max-memory"
for good in 512M 8G 1GiB 1073741824 2t; do
    check 0 "" "--max-memory $good" \
        "$bin" generate --neurons 64 --layers 2 --images 10 \
        --out "$tmp/ok-$good" --max-memory "$good"
done

echo "== every command checks before loading"
"$bin" generate --neurons 256 --layers 8 --images 200 --out "$tmp/m" >/dev/null
"$bin" convert --weights "$tmp/m" --out "$tmp/m.sdsinf" >/dev/null
img="$tmp/m/sparse-images-256.tsv"
check 1 "convert: needs about" "convert, limit 1K" \
    "$bin" convert --weights "$tmp/m" --out "$tmp/c.sdsinf" --max-memory 1K
absent "$tmp/c.sdsinf" "convert refused"
check 1 "infer: needs about" "infer, limit 1K" \
    "$bin" infer --weights "$tmp/m.sdsinf" --images "$img" \
    --out "$tmp/cats" --max-memory 1K
absent "$tmp/cats" "infer refused"
check 1 "partition: needs about" "partition, limit 1K" \
    "$bin" partition --weights "$tmp/m.sdsinf" --workers 2 \
    --out "$tmp/plan" --max-memory 1K
absent "$tmp/plan" "partition refused"
check 1 "run: needs about" "run, limit 1K" \
    "$bin" run --weights "$tmp/m.sdsinf" --images "$img" --workers 2 \
    --launcher threads --out "$tmp/cats" --max-memory 1K
absent "$tmp/cats" "run refused"
check 1 "use a smaller --batch-size or fewer workers" \
    "run, the workers' batches over the limit" \
    "$bin" run --weights "$tmp/m.sdsinf" --images "$img" --workers 4 \
    --launcher threads --method block --out "$tmp/cats" --max-memory 2M
absent "$tmp/cats" "run refused (workers)"
check 0 "" "run, the same in batches of 16" \
    "$bin" run --weights "$tmp/m.sdsinf" --images "$img" --workers 4 \
    --launcher threads --method block --batch-size 16 --max-memory 2M
check 1 "demo: needs about" "demo, limit 100K" \
    "$bin" demo --neurons 64 --layers 4 --images 50 --out "$tmp/demo" \
    --max-memory 100K
absent "$tmp/demo" "demo refused"

echo "== image ids: far beyond the images present, or the declared count"
cp "$img" "$tmp/typo.tsv"
printf '99999999\t1\t1\n' >>"$tmp/typo.tsv"
line=$(wc -l <"$tmp/typo.tsv")
check 1 "$tmp/typo.tsv:$line: image 99999999 is far beyond the" \
    "infer, image id 99999999 in 200 images" \
    "$bin" infer --weights "$tmp/m.sdsinf" --images "$tmp/typo.tsv" \
    --out "$tmp/cats"
absent "$tmp/cats" "infer on a mistyped id"
check 1 "$tmp/typo.tsv:$line: image 99999999 is beyond the 200 images declared" \
    "infer --images-count 200, id 99999999" \
    "$bin" infer --weights "$tmp/m.sdsinf" --images "$tmp/typo.tsv" \
    --images-count 200
check 1 "needs about 1.5 GiB" "infer --images-count 99999999, over 1G" \
    "$bin" infer --weights "$tmp/m.sdsinf" --images "$tmp/typo.tsv" \
    --images-count 99999999 --max-memory 1G
check 1 "is far beyond the" "run, image id 99999999" \
    "$bin" run --weights "$tmp/m.sdsinf" --images "$tmp/typo.tsv" \
    --workers 2 --launcher threads --method block
check 0 '"images":250' "infer --images-count 250 (50 empty images)" \
    "$bin" infer --weights "$tmp/m.sdsinf" --images "$img" \
    --images-count 250 --json
printf '1\t1\t1\n5\t2\t1\n' >"$tmp/sparse.tsv"
check 1 "$tmp/sparse.tsv:2: image 5 is far beyond the 2 images" \
    "ids 1 and 5 only" \
    "$bin" infer --weights "$tmp/m.sdsinf" --images "$tmp/sparse.tsv"
check 0 '"images":5' "ids 1 and 5 with --images-count 5" \
    "$bin" infer --weights "$tmp/m.sdsinf" --images "$tmp/sparse.tsv" \
    --images-count 5 --json

echo "== normal runs pass the default limit"
check 0 "check passed" "infer with the default limit" \
    "$bin" infer --weights "$tmp/m.sdsinf" --images "$img" \
    --check "$tmp/m/n256-l8-categories.tsv"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all passed"
