#!/usr/bin/env bash
# cli_input.sh - input files that used to give a wrong answer with exit 0:
# bias files with missing or repeated layers (neurons), control bytes (NUL)
# inside a line of any reader's file, empty or missing SDS-Inf conn files.
# Each must exit 1 with a message naming the file (and line, column), in
# printable text, and leave the file system as it was: no output written.
# usage: cli_input.sh SDSINF [DATA_DIR]   (the real network, when present)
set -u

bin=${1:?usage: cli_input.sh SDSINF [DATA_DIR]}
data=${2:-}
if [ ! -x "$bin" ]; then
    echo "skip: $bin is not an executable"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-cli-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
w=$tmp/w   # the inputs, and where outputs would go
log=$tmp/log
mkdir "$w" "$log"
failures=0

# A listing of every file under $w with its checksum.
tree() { (cd "$w" && find . -print0 | sort -z | xargs -0 md5sum 2>/dev/null; find . | sort); }

# fails TEXT WHAT COMMAND...: COMMAND must exit 1, print TEXT (a fixed
# string) on stderr, print no control byte, and change nothing under $w.
fails() {
    local text=$1 what=$2
    shift 2
    tree >"$log/before"
    "$@" >"$log/stdout" 2>"$log/stderr"
    local got=$?
    tree >"$log/after"
    if [ "$got" -ne 1 ]; then
        echo "FAIL: $what: exit $got, want 1"
    elif ! grep -qF -- "$text" "$log/stderr"; then
        echo "FAIL: $what: no '$text' in the message"
    elif LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n' <"$log/stderr"); then
        echo "FAIL: $what: a control byte in the message"
    elif ! cmp -s "$log/before" "$log/after"; then
        echo "FAIL: $what: the files changed:"
        diff "$log/before" "$log/after" | sed 's/^/    | /'
    else
        echo "ok:   $what ('$text')"
        return
    fi
    sed 's/^/    | /' "$log/stdout" "$log/stderr"
    failures=$((failures + 1))
}

# works WHAT COMMAND...: COMMAND must exit 0.
works() {
    local what=$1
    shift
    if "$@" >"$log/stdout" 2>"$log/stderr"; then
        echo "ok:   $what"
    else
        echo "FAIL: $what: exit $?"
        sed 's/^/    | /' "$log/stdout" "$log/stderr"
        failures=$((failures + 1))
    fi
}

# A 64-neuron, 6-layer model, its images and golden categories; a block
# plan over 3 workers exported as SDS-Inf's layout (sds), and its conn
# files alone (conn).
"$bin" generate --neurons 64 --layers 6 --images 30 --out "$w/g" >/dev/null &&
    "$bin" partition --weights "$w/g" --workers 3 --method block \
        --out "$w/plan" >/dev/null &&
    "$bin" sdsinf-export --weights "$w/g" --plan "$w/plan" \
        --images "$w/g/sparse-images-64.tsv" --out "$w/sds" >/dev/null ||
    { echo "FAIL: could not set up"; exit 1; }
mkdir "$w/conn" && cp "$w"/sds/conn.* "$w/conn/"
img=$w/g/sparse-images-64.tsv
gold=$w/g/n64-l6-categories.tsv
infer=("$bin" infer --weights "$w/g" --images "$img" --quiet
       --out "$w/cats.tsv" --scores "$w/scores.tsv")

echo "== bias files: every layer (neuron) exactly once"
printf '1 -0.3\n' >"$w/b1"
printf '1 -0.3\n2 -0.3\n3 -0.3\n4 -0.3\n5 -0.3\n6 -0.3\n2 -0.25\n' >"$w/b-dup"
printf '1 5 -0.3\n' >"$w/b-one"
for l in 1 2 3 4 5 6; do printf '%d -0.3\n' "$l"; done >"$w/b-full"
fails "$w/b1: layers 2-6 have no bias; every layer needs one line" \
    "infer, one layer of 6" "${infer[@]}" --bias "$w/b1"
fails "$w/b-dup:7: a second bias for layer 2 (the first is on line 2)" \
    "infer, a layer twice" "${infer[@]}" --bias "$w/b-dup"
fails "$w/b-one: layer 1 has no bias for neurons 1-4, 6-64 (6 of 6 layers" \
    "infer, one layer neuron value line" "${infer[@]}" --bias "$w/b-one"
fails "$w/b1: layers 2-6 have no bias" "run, one layer of 6" \
    "$bin" run --weights "$w/g" --images "$img" --workers 2 \
    --launcher threads --out "$w/cats.tsv" --bias "$w/b1"
fails "$w/b1: layers 2-6 have no bias" "convert, one layer of 6" \
    "$bin" convert --weights "$w/g" --out "$w/g.sdsinf" --bias "$w/b1"
fails "$w/b-dup:7: a second bias for layer 2" "sdsinf-import, a layer twice" \
    "$bin" sdsinf-import --from "$w/sds" --neurons 64 --bias "$w/b-dup" \
    --out "$w/plan2"
cp -r "$w/g" "$w/g-bias"
printf '1 -0.3\n2 -0.3\n' >"$w/g-bias/bias.tsv"
fails "$w/g-bias/bias.tsv: layers 3-6 have no bias" \
    "infer, a short bias.tsv beside the layers" \
    "$bin" infer --weights "$w/g-bias" --images "$img" --out "$w/cats.tsv"
works "infer, a full bias file" "${infer[@]}" --bias "$w/b-full" \
    --check "$gold"
works "sdsinf-import, a full bias file" \
    "$bin" sdsinf-import --from "$w/sds" --neurons 64 --bias "$w/b-full" \
    --out "$w/plan-b"
rm -rf "$w/cats.tsv" "$w/scores.tsv" "$w/plan-b"

gc=$data/graphchallenge/neuron1024
if [ -n "$data" ] && [ -d "$gc" ]; then
    fails "$w/b1: layers 2-120 have no bias; every layer needs one line" \
        "infer, the real network, one layer of 120" \
        "$bin" infer --weights "$gc" --bias "$w/b1" \
        --images "$data/graphchallenge/sparse-images-1024-first6000.tsv" \
        --out "$w/cats.tsv"
else
    echo "skip: the real-network case (the shared data ${data:-DIR} has no graphchallenge/neuron1024)"
fi

echo "== NUL and control bytes inside a line"
cp -r "$w/g" "$w/g-nul"
# line 12 of layer 3 gets its value as 6.25<NUL>e-02 (read as 6.25 before)
awk 'NR == 12 { printf "%s\t%s\t6.25%ce-02\n", $1, $2, 0; next } { print }' \
    "$w/g/n64-l3.tsv" >"$w/g-nul/n64-l3.tsv"
col=$(awk 'NR == 12 { print length($1) + length($2) + 7 }' "$w/g/n64-l3.tsv")
fails "$w/g-nul/n64-l3.tsv:12: NUL byte at column $col, in the value" \
    "infer, a NUL inside a weight" \
    "$bin" infer --weights "$w/g-nul" --images "$img" --out "$w/cats.tsv"
printf '1\t1\t1\n2\0\t3\t1\n' >"$w/img-nul.tsv"
fails "$w/img-nul.tsv:2: NUL byte at column 2, in the image id" \
    "infer, a NUL inside an image id" \
    "$bin" infer --weights "$w/g" --images "$w/img-nul.tsv" --out "$w/cats.tsv"
printf '1\t1\t1\x01\n' >"$w/img-ctl.tsv"
fails "$w/img-ctl.tsv:1: control byte 0x01 at column 6, in the value" \
    "infer, a control byte after a value" \
    "$bin" infer --weights "$w/g" --images "$w/img-ctl.tsv" --out "$w/cats.tsv"
{ head -n 1 "$gold"; printf '3\0002\n'; } >"$w/gold-nul.tsv"
fails "$w/gold-nul.tsv:2: NUL byte at column 2, in the image id" \
    "infer --check, a NUL in the golden file" "${infer[@]}" \
    --check "$w/gold-nul.tsv"
printf '1 -0.3\0\n' >"$w/b-nul"
fails "$w/b-nul:1: NUL byte at column 7, in the bias" \
    "infer, a NUL in a bias file" "${infer[@]}" --bias "$w/b-nul"
cp -r "$w/sds" "$w/sds-nul"
awk 'NR == 1 { printf "%s%c\n", $0, 0; next } { print }' "$w/sds/conn.2" \
    >"$w/sds-nul/conn.2"
col=$(($(head -n 1 "$w/sds/conn.2" | wc -c)))
fails "$w/sds-nul/conn.2:1: NUL byte at column $col" \
    "sdsinf-import, a NUL in a conn file" \
    "$bin" sdsinf-import --from "$w/sds-nul" --neurons 64 --bias -0.3 \
    --out "$w/plan2"

echo "== SDS-Inf conn files: none empty, none missing"
mkdir "$w/conn-empty"
for l in 0 1 2 3 4 5; do : >"$w/conn-empty/conn.$l"; done
fails "$w/conn-empty/conn.0: empty" "sdsinf-import --weights, all conn files empty" \
    "$bin" sdsinf-import --from "$w/conn-empty" --weights "$w/g" --out "$w/plan2"
cp -r "$w/conn" "$w/conn-3"
: >"$w/conn-3/conn.3"
fails "$w/conn-3/conn.3: empty" "sdsinf-import --weights, conn.3 emptied" \
    "$bin" sdsinf-import --from "$w/conn-3" --weights "$w/g" --out "$w/plan2"
cp -r "$w/sds" "$w/sds-3"
: >"$w/sds-3/conn.3"
fails "$w/sds-3/conn.3: empty, but the nnp files' owners need" \
    "sdsinf-import, conn.3 emptied beside the nnp files" \
    "$bin" sdsinf-import --from "$w/sds-3" --neurons 64 --bias -0.3 \
    --out "$w/plan2"
rm "$w/conn-3/conn.3"
fails "$w/conn-3/conn.3: missing; a model of 6 layers needs conn.0 to conn.5" \
    "sdsinf-import --weights, conn.3 missing" \
    "$bin" sdsinf-import --from "$w/conn-3" --weights "$w/g" --out "$w/plan2"
if grep -q "conn files for a model" "$log/stderr"; then
    echo "FAIL: the message counts the files before the gap"
    failures=$((failures + 1))
fi
rm "$w/sds-3/conn.3"
fails "$w/sds-3/conn.3: missing, but there are conn files up to conn.5" \
    "sdsinf-import --neurons, conn.3 missing" \
    "$bin" sdsinf-import --from "$w/sds-3" --neurons 64 --bias -0.3 \
    --out "$w/plan2"
cp "$w/conn/conn.0" "$w/conn/conn.6"
fails "$w/conn/conn.6: a conn file past the model's 6 layers" \
    "sdsinf-import --weights, a conn.6 for 6 layers" \
    "$bin" sdsinf-import --from "$w/conn" --weights "$w/g" --out "$w/plan2"
rm "$w/conn/conn.6"
works "sdsinf-import --weights, the conn files whole" \
    "$bin" sdsinf-import --from "$w/conn" --weights "$w/g" --out "$w/plan2"
# one worker: every conn file is rightly empty, the nnp files say why
"$bin" partition --weights "$w/g" --workers 1 --out "$w/plan1" >/dev/null &&
    "$bin" sdsinf-export --weights "$w/g" --plan "$w/plan1" --out "$w/sds1" \
        >/dev/null
works "sdsinf-import, one worker's empty conn files beside its nnp file" \
    "$bin" sdsinf-import --from "$w/sds1" --neurons 64 --bias -0.3 \
    --out "$w/plan3"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
