#!/usr/bin/env bash
# cli_bad_input.sh - the command line on bad input: malformed files fail with
# exit 1 and a message naming file:line, bad usage exits 2, and --check
# against a wrong golden file exits 1 with 'check failed' (one listing
# images the run does not have is an error).
# usage: cli_bad_input.sh SDSINF [DATA_DIR]   (the data directory is unused)
set -u

bin=${1:?usage: cli_bad_input.sh SDSINF [DATA_DIR]}
if [ ! -x "$bin" ]; then
    echo "skip: $bin is not an executable"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-cli-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
. "$(dirname "$0")/cli_check.sh"

# Inputs: a good and a malformed 4-neuron model, images, a text "bundle".
mkdir "$tmp/good" "$tmp/bad"
printf '1\t2\t1\n2\t3\t1\n' >"$tmp/good/n4-l1.tsv"
printf '1\t2\t0.5\n2\tx\t1\n' >"$tmp/bad/n4-l1.tsv"
printf '1\t1\t1\n1\t2\t1\n' >"$tmp/images.tsv"
printf '1\t1\t1\n\n1\t9\t1\n' >"$tmp/bad-images.tsv"
printf '%s\n' "this is text, not a model bundle, though longer than a" \
    "bundle's 64-byte header" >"$tmp/not-a-bundle"

echo "== malformed input files: exit 1, file:line"
check 1 "$tmp/bad/n4-l1.tsv:2:" "infer, malformed weights" \
    "$bin" infer --weights "$tmp/bad" --images "$tmp/images.tsv" --bias -0.3
check 1 "$tmp/bad/n4-l1.tsv:2:" "convert, malformed weights" \
    "$bin" convert --weights "$tmp/bad" --out "$tmp/x.sdsinf" --bias -0.3
check 1 "$tmp/bad-images.tsv:3:" "infer, malformed images" \
    "$bin" infer --weights "$tmp/good" --images "$tmp/bad-images.tsv" \
    --bias -0.3
check 1 "sdsinf convert" "infer, a text file as the bundle" \
    "$bin" infer --weights "$tmp/not-a-bundle" --images "$tmp/images.tsv"

echo "== paths that do not exist: exit 1, naming them"
check 1 "$tmp/nowhere" "infer, nonexistent weights" \
    "$bin" infer --weights "$tmp/nowhere" --images "$tmp/images.tsv"
check 1 "--weights $tmp/nowhere: no such file or directory" \
    "infer, nonexistent weights: the flag named" \
    "$bin" infer --weights "$tmp/nowhere" --images "$tmp/images.tsv"
check 1 "--images $tmp/no-images.tsv: no such file or directory" \
    "run, nonexistent images: the flag named" \
    "$bin" run --weights "$tmp/good" --images "$tmp/no-images.tsv" --workers 2
check 1 "extra-arg: cannot open: not a file; run takes one payload file or flags" \
    "run, a stray argument" \
    "$bin" run --weights "$tmp/good" --images "$tmp/images.tsv" --workers 2 \
    extra-arg
check 1 "$tmp/no-images.tsv" "infer, nonexistent images" \
    "$bin" infer --weights "$tmp/good" --images "$tmp/no-images.tsv" \
    --bias -0.3
check 1 "$tmp/no-bias.tsv" "infer, nonexistent bias file" \
    "$bin" infer --weights "$tmp/good" --images "$tmp/images.tsv" \
    --bias "$tmp/no-bias.tsv"

echo "== bad usage: exit 2"
check 2 "unknown option --bogus" "unknown flag" \
    "$bin" infer --bogus 1 --weights "$tmp/good"
check 2 "--images needs a value" "flag without its value" \
    "$bin" infer --weights "$tmp/good" --images
check 2 "--layers needs an integer" "non-numeric --layers" \
    "$bin" infer --weights "$tmp/good" --images "$tmp/images.tsv" \
    --layers three
check 2 "needs --weights and --images" "infer without --images" \
    "$bin" infer --weights "$tmp/good"
check 2 "unknown command" "unknown command" "$bin" frobnicate
check 2 "usage" "no command" "$bin"
check 2 "--batch-size needs an integer from 1" "infer --batch-size 0" \
    "$bin" infer --weights "$tmp/good" --images "$tmp/images.tsv" \
    --bias -0.3 --batch-size 0
run_good=("$bin" run --weights "$tmp/good" --images "$tmp/images.tsv"
          --bias -0.3 --workers 2)
check 2 "--batch-size needs an integer from 1" "run --batch-size 0" \
    "${run_good[@]}" --batch-size 0
check 2 "unknown codec 'lz4' (known: zstd, raw)" "run --codec lz4" \
    "${run_good[@]}" --codec lz4
check 2 "unknown launcher 'nope'" "run --launcher nope" \
    "${run_good[@]}" --launcher nope
check 2 "unknown channel 'nope'" "run --channel nope" \
    "${run_good[@]}" --channel nope
# an unknown name is said first, whatever else is wrong (a stack, files)
check 2 "unknown launcher 'lamda'" "run --launcher lamda --stack S, no files" \
    "$bin" run --launcher lamda --stack S --workers 8 --weights "$tmp/none" \
    --images "$tmp/none"
check 2 "unknown channel 'sqq'" "run --channel sqq --stack S, no files" \
    "$bin" run --channel sqq --stack S --workers 8 --weights "$tmp/none" \
    --images "$tmp/none"
check 2 "channel mem does not work between processes" \
    "run --launcher local --channel mem" \
    "${run_good[@]}" --launcher local --channel mem
check 2 "use --launcher threads" "run --channel mem: the threads launcher" \
    "${run_good[@]}" --launcher local --channel mem
# The mpi channel's advice is its own launcher's (when the build has it).
"${run_good[@]}" --launcher local --channel mpi >"$tmp/stdout" 2>"$tmp/stderr"
if grep -qE "not in this build|this build has no MPI" "$tmp/stderr"; then
    echo "ok:   run --channel mpi: not in this build (skipped)"
else
    check 2 "use --launcher mpi under mpirun -n W" \
        "run --launcher local --channel mpi: mpi's advice" \
        "${run_good[@]}" --launcher local --channel mpi
fi
check 2 "mpi" "run --channel nope: mpi among the known" \
    "${run_good[@]}" --channel nope
if grep -qF "register it first" "$tmp/stderr"; then
    echo "FAIL: run --channel nope: a library user's advice to a CLI user"
    failures=$((failures + 1))
fi
if check 2 "" "run --channel sqs, a bad setting: bad usage, before loading" \
    "${run_good[@]}" --channel sqs --channel-config wait=abc &&
    ! grep -qF "not in this build" "$tmp/stderr"; then
    check 2 "bad setting 'wait=abc'" "... naming the setting" \
        "${run_good[@]}" --channel sqs --channel-config wait=abc
fi
check 2 "bfr 3 over 1 levels starts 3 workers, not 2" \
    "run, a launch tree of another size" "${run_good[@]}" --bfr 3 --nlevels 1
check 2 "unknown partition method 'nope'" "partition --method nope" \
    "$bin" partition --weights "$tmp/good" --bias -0.3 --workers 2 \
    --method nope --out "$tmp/plan-nope"
[ ! -e "$tmp/plan-nope" ] || { echo "FAIL: a refused partition wrote its plan"
                               failures=$((failures + 1)); }

echo "== --check against golden categories"
check 0 "" "generate a small network" \
    "$bin" generate --neurons 64 --layers 2 --images 20 --out "$tmp/gen"
gold="$tmp/gen/n64-l2-categories.tsv"
"$bin" partition --weights "$tmp/gen" --workers 6 --out "$tmp/plan6" >/dev/null
check 2 "bfr 2 over 1 levels starts 2 workers, not 6" \
    "run --plan of 6 workers, a launch tree of another size" \
    "$bin" run --weights "$tmp/gen" --images "$tmp/gen/sparse-images-64.tsv" \
    --plan "$tmp/plan6" --bfr 2
infer_gen=("$bin" infer --weights "$tmp/gen" --images
           "$tmp/gen/sparse-images-64.tsv" --quiet)
check 0 "check passed" "the right golden file" "${infer_gen[@]}" --check "$gold"
sed '$d' "$gold" >"$tmp/wrong.tsv" # one category fewer
check 1 "check failed" "a wrong golden file" \
    "${infer_gen[@]}" --check "$tmp/wrong.tsv"
{ cat "$gold"; echo 21; } >"$tmp/beyond.tsv" # image 21 does not exist
check 1 "lists image 21, but $tmp/gen/sparse-images-64.tsv has 20 images" \
    "a golden file of other images" "${infer_gen[@]}" --check "$tmp/beyond.tsv"
# A failed check still writes what was asked for, and says so.
check 1 "written all the same: --out $tmp/cats-failed.tsv" \
    "a failed check writes --out" "${infer_gen[@]}" --check "$tmp/wrong.tsv" \
    --out "$tmp/cats-failed.tsv"
[ -s "$tmp/cats-failed.tsv" ] || { echo "FAIL: a failed check wrote no --out"
                                   failures=$((failures + 1)); }
printf '5\n3\n' >"$tmp/unsorted.tsv"
check 1 "$tmp/unsorted.tsv:2:" "a malformed golden file" \
    "${infer_gen[@]}" --check "$tmp/unsorted.tsv"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
