#!/usr/bin/env bash
# cli_files.sh - where the command line's outputs go: --out on a device, a
# FIFO, a symlink or `-` (standard output) keeps what it names (a device
# stays a device, a link a link), --metrics on a FIFO or directory, and an
# output in a missing or read-only directory, are bad usage up front, and the commands that write a directory (generate, demo,
# partition, sdsinf-export, sdsinf-import) leave nothing of it when a write
# fails (a full disk, made with ulimit -f) and keep an existing good one.
# usage: cli_files.sh SDSINF [DATA_DIR]   (the data directory is unused)
set -u

bin=${1:?usage: cli_files.sh SDSINF [DATA_DIR]}
if [ ! -x "$bin" ]; then
    echo "skip: $bin is not an executable"
    exit 77
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-files-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
. "$(dirname "$0")/cli_check.sh"
cd "$tmp" || exit 1

# no_dir NAME WHAT: nothing named NAME, nor a .NAME.tmp* beside it.
no_dir() {
    local left
    left=$(ls -d "$1" ".$1".tmp* ".old.$1".tmp* 2>/dev/null)
    expect "$2: nothing left ($left)" -z "$left"
}

# limited KIB COMMAND...: COMMAND with files limited to KIB KiB, as on a
# full disk: SIGXFSZ ignored, so a write past it fails with EFBIG.
limited() {
    (trap '' XFSZ; ulimit -f "$1" && shift && exec "$@")
}

sum() { find "$1" -type f | sort | xargs cat | cksum; }

check 0 "" "generate a small model" \
    "$bin" generate --neurons 64 --layers 4 --images 50 --out m
check 0 "" "generate a larger one" \
    "$bin" generate --neurons 256 --layers 12 --images 300 --out big
img=m/sparse-images-64.tsv
"$bin" infer --weights m --images "$img" --out want.tsv >/dev/null

echo "== --out on what is not a regular file"
check 0 "" "infer --out /dev/null" \
    "$bin" infer --weights m --images "$img" --out /dev/null
expect "/dev/null is still a character device" -c /dev/null
if [ -c /dev/full ]; then
    check 1 "/dev/full: write failed: No space left on device" \
        "infer --out /dev/full" \
        "$bin" infer --weights m --images "$img" --out /dev/full
    expect "/dev/full is still a character device" -c /dev/full
    check 1 "No space left on device" "convert --out /dev/full" \
        "$bin" convert --weights m --out /dev/full
    expect "/dev/full is still a character device" -c /dev/full
else
    echo "skip: /dev/full: not here"
fi
check 0 "" "convert --out /dev/null" \
    "$bin" convert --weights m --out /dev/null
expect "/dev/null is still a character device" -c /dev/null

ln -s target.tsv link.tsv
check 0 "" "infer --out a symlink" \
    "$bin" infer --weights m --images "$img" --out link.tsv
expect "the link is still a link" -L link.tsv
expect "its target holds the categories" "$(cmp -s target.tsv want.tsv &&
    echo same)" = same
mkdir sub && ln -s ../sub/deep.tsv sub/rel.tsv
check 0 "" "run --out a dangling relative symlink" \
    "$bin" run --weights m --images "$img" --workers 2 --launcher threads \
    --out sub/rel.tsv
expect "the link is still a link" -L sub/rel.tsv
expect "the run created its target" "$(cmp -s sub/deep.tsv want.tsv &&
    echo same)" = same
ln -s m.sdsinf bundle-link
check 0 "" "convert --out a symlink" \
    "$bin" convert --weights m --out bundle-link
expect "the bundle's link is still a link to a bundle" \
    "$(test -L bundle-link && test -s m.sdsinf && echo yes)" = yes

mkfifo fifo
timeout 60 cat fifo >from-fifo & # bounded: a writer that never opens it
reader=$!
check 0 "" "infer --out a FIFO (read by cat)" \
    "$bin" infer --weights m --images "$img" --out fifo
wait "$reader"
expect "the FIFO is still a FIFO" -p fifo
expect "its reader got the categories" "$(cmp -s from-fifo want.tsv &&
    echo same)" = same

check 0 "" "infer --out - --json" \
    "$bin" infer --weights m --images "$img" --out - --json
expect "stdout: the categories, then the JSON line last" \
    "$(head -n -1 stdout | cmp -s - want.tsv && tail -n 1 stdout |
       grep -c '^{"images"')" = 1
"$bin" infer --weights m --images "$img" --out /dev/stdout --json >redirected
expect "--out /dev/stdout into a file: the categories, then the JSON line" \
    "$(head -n -1 redirected | cmp -s - want.tsv && tail -n 1 redirected |
       grep -c '^{"images"')" = 1
check 2 "cannot both be -" "infer --out - --scores -" \
    "$bin" infer --weights m --images "$img" --out - --scores -
check 2 "is a directory" "infer --out DIR" \
    "$bin" infer --weights m --images "$img" --out sub
check 2 "is a directory" "convert --out DIR" \
    "$bin" convert --weights m --out sub

echo "== an output's directory must exist and be writable, checked up front"
run2=("$bin" run --weights m --images "$img" --workers 2 --launcher threads)
check 2 "--out nodir/cats.tsv: its directory nodir does not exist" \
    "infer --out in a missing directory" \
    "$bin" infer --weights m --images "$img" --out nodir/cats.tsv
check 2 "--scores /proc/nope/x: its directory /proc/nope does not exist" \
    "infer --scores in a missing directory" \
    "$bin" infer --weights m --images "$img" --scores /proc/nope/x
check 2 "--metrics m2/real8: its directory m2 does not exist" \
    "run --metrics PREFIX in a missing directory" \
    "${run2[@]}" --out cats.tsv --metrics m2/real8 --json
expect "run wrote nothing (no cats.tsv, no summary)" \
    "$(test ! -e cats.tsv && test ! -s "$tmp/stdout" && echo yes)" = yes
check 2 "--out nodir/cats.tsv: its directory nodir" \
    "run --out in a missing directory" "${run2[@]}" --out nodir/cats.tsv
check 2 "--metrics m2/x: its directory m2 does not exist" \
    "demo --metrics in a missing directory" \
    "$bin" demo --neurons 64 --layers 4 --images 50 --metrics m2/x
check 2 "--out nodir/m: its directory nodir does not exist" \
    "generate --out in a missing directory" \
    "$bin" generate --neurons 64 --layers 4 --images 50 --out nodir/m
check 2 "--out nodir/plan: its directory nodir does not exist" \
    "partition --out in a missing directory" \
    "$bin" partition --weights m --workers 2 --method block --out nodir/plan
check 2 "--out nodir/d: its directory nodir does not exist" \
    "demo --out in a missing directory" \
    "$bin" demo --neurons 64 --layers 4 --images 50 --out nodir/d
check 2 "--out nodir/r.html: its directory nodir does not exist" \
    "report --out in a missing directory" "$bin" report m --out nodir/r.html
check 2 "--out want.tsv/x: its directory want.tsv is not a directory" \
    "infer --out under a file" \
    "$bin" infer --weights m --images "$img" --out want.tsv/x
expect "no directory was made" \
    "$(test ! -e nodir && test ! -e m2 && test ! -e /proc/nope && echo yes)" = yes
if [ "$(id -u)" -ne 0 ]; then
    mkdir ro && chmod 555 ro
    check 2 "--out ro/cats.tsv: its directory ro is not writable" \
        "infer --out in a read-only directory" \
        "$bin" infer --weights m --images "$img" --out ro/cats.tsv
    chmod 755 ro
fi

echo "== --metrics PREFIX names three files"
check 2 "--metrics takes a prefix for three files" "run --metrics FIFO" \
    "$bin" run --weights m --images "$img" --workers 2 --launcher threads \
    --metrics fifo
expect "the FIFO is still a FIFO, and no fifo.csv" \
    "$(test -p fifo && ! test -e fifo.csv && echo yes)" = yes
check 2 "but sub is a directory: give e.g. sub/metrics" "run --metrics DIR" \
    "$bin" run --weights m --images "$img" --workers 2 --launcher threads \
    --metrics sub
check 2 "--metrics takes a prefix" "demo --metrics /dev/null" \
    "$bin" demo --neurons 64 --layers 4 --images 50 --metrics /dev/null

echo "== directories written whole"
check 1 "gen/n256-l1.tsv: write failed: File too large" \
    "generate on a full disk" \
    limited 16 "$bin" generate --neurons 256 --layers 12 --images 300 \
    --out gen
no_dir gen "generate on a full disk"
before=$(sum m)
check 1 "File too large" "generate over a good directory, on a full disk" \
    limited 16 "$bin" generate --neurons 256 --layers 12 --images 300 --out m
expect "the good directory is untouched" "$(sum m)" = "$before"
expect "no temporary directory beside it" -z "$(ls -d .m.tmp* 2>/dev/null)"

check 1 "File too large" "partition on a full disk" \
    limited 16 "$bin" partition --weights big --workers 2 --method block \
    --out plan
no_dir plan "partition on a full disk"
check 0 "" "partition" \
    "$bin" partition --weights big --workers 3 --method block --out plan
before=$(sum plan)
check 1 "File too large" "partition over a good plan, on a full disk" \
    limited 16 "$bin" partition --weights big --workers 2 --method block \
    --out plan
expect "the good plan is untouched" "$(sum plan)" = "$before"
ln -s plan plan-link
check 0 "" "partition over a plan, through a symlink" \
    "$bin" partition --weights big --workers 2 --method block --out plan-link
expect "the link is still a link" -L plan-link
expect "the plan was replaced whole (no shard-2 left)" \
    "$(ls plan)" = "$(printf 'plan.bin\nshard-0.sdsinf\nshard-1.sdsinf')"
expect "nothing beside it" -z "$(ls -d .plan.tmp* .old.plan.tmp* 2>/dev/null)"

mkdir mine && echo keep >mine/notes.txt
check 2 "mine exists and is not what this command writes (it has no plan.bin): remove it or choose another path" \
    "partition --out a directory of someone else's" \
    "$bin" partition --weights big --workers 2 --method block --out mine
expect "it is untouched" "$(cat mine/notes.txt)" = keep
check 2 "mine exists and is not what this command writes" \
    "generate --out a directory of someone else's" \
    "$bin" generate --neurons 64 --layers 4 --images 50 --out mine
before=$(cksum <want.tsv)
check 2 "exists and is not a directory" "partition --out a file" \
    "$bin" partition --weights big --workers 2 --method block --out want.tsv
expect "the file is untouched" "$(cksum <want.tsv)" = "$before"

check 1 "File too large" "sdsinf-export on a full disk" \
    limited 16 "$bin" sdsinf-export --weights big --plan plan --out legacy
no_dir legacy "sdsinf-export on a full disk"
check 0 "" "sdsinf-export" \
    "$bin" sdsinf-export --weights big --plan plan --out legacy
check 1 "File too large" "sdsinf-import on a full disk" \
    limited 16 "$bin" sdsinf-import --from legacy --neurons 256 \
    --bias -0.3 --out plan2 --weights-out w2
no_dir plan2 "sdsinf-import on a full disk (--out)"
no_dir w2 "sdsinf-import on a full disk (--weights-out)"
check 0 "" "sdsinf-import" \
    "$bin" sdsinf-import --from legacy --neurons 256 --bias -0.3 \
    --out plan2 --weights-out w2
expect "its plan and weights are in place" \
    "$(test -f plan2/plan.bin && test -f w2/bias.tsv && echo yes)" = yes

check 1 "File too large" "demo --out on a full disk" \
    limited 16 "$bin" demo --neurons 256 --layers 8 --images 200 \
    --workers 2 --out dm
no_dir dm "demo on a full disk"

echo
if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all output-file checks passed"
