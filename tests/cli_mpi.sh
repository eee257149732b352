#!/usr/bin/env bash
# cli_mpi.sh SDSINF DATA - the workers as the ranks of mpirun: distributed
# equals single-process on a generated model (4 and 8 ranks; channel mpi,
# and channel local between the ranks); with channel fs, rank 0 makes the
# run's state and removes it (an empty store after a run, and after one
# that did not start; a rank killed mid-run leaves it for sdsinf clean);
# a job of the wrong size is refused by every rank with one message; a
# damaged shard (truncated, or bytes flipped) is named with its worker by
# rank 0; a rank killed mid-run ends the job with a non-zero exit and no
# process left; mpirun interrupted
# (SIGINT, SIGTERM) with --channel local stops the ranks, which remove the
# shared-memory state, and SIGKILL leaves it for `sdsinf clean`; with the
# shared data, the real 6,000 images on 8 ranks reproduce the golden
# categories.
set -eu
sdsinf=$1 data=$2
command -v mpirun >/dev/null || { echo "SKIP: mpirun not installed (apt-get install openmpi-bin)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mpi() { # ranks, arguments... (oversubscribed: more ranks than cores)
    local n=$1; shift
    timeout 300 mpirun --oversubscribe -n "$n" "$@"
}
"$sdsinf" generate --neurons 128 --layers 8 --images 60 --seed 5 --out "$tmp/g" >/dev/null
img=$tmp/g/sparse-images-128.tsv
"$sdsinf" infer --weights "$tmp/g" --images "$img" --scores "$tmp/single.tsv" --quiet
for w in 4 8; do
    "$sdsinf" partition --weights "$tmp/g" --workers $w --out "$tmp/p$w" >/dev/null
done
check() { # label, ranks, run arguments...
    local label=$1 n=$2; shift 2
    rm -f "$tmp/s.tsv"
    mpi "$n" "$sdsinf" run --launcher mpi --weights "$tmp/g" --images "$img" \
        --scores "$tmp/s.tsv" "$@" | tail -n 1
    cmp "$tmp/s.tsv" "$tmp/single.tsv" || { echo "FAIL: $label differs"; exit 1; }
    echo "ok: $label"
}
check "4 ranks" 4 --plan "$tmp/p4"
check "8 ranks" 8 --plan "$tmp/p8"
check "8 ranks, channel local" 8 --plan "$tmp/p8" --channel local \
    --channel-config "$tmp/sock"
check "4 ranks, batches, raw codec" 4 --plan "$tmp/p4" --batch-size 16 --codec raw

echo "== channel fs: rank 0 makes the run's state and removes it"
store=$tmp/store
check "4 ranks, channel fs" 4 --plan "$tmp/p4" --channel fs --channel-config "$store"
[ -z "$(find "$store" -mindepth 1)" ] || { echo "FAIL: the store holds:"; find "$store"; exit 1; }
cp -r "$tmp/p4" "$tmp/bad4"
truncate -s 100 "$tmp/bad4/shard-3.sdsinf"
if mpi 4 "$sdsinf" run --launcher mpi --weights "$tmp/g" --images "$img" \
        --plan "$tmp/bad4" --channel fs --channel-config "$store" >"$tmp/out" 2>&1; then
    echo "FAIL: a truncated shard ran"; exit 1
fi
grep -q "worker 3, its shard: .*; the run did not start" "$tmp/out" || { cat "$tmp/out"; exit 1; }
[ -z "$(find "$store" -mindepth 1)" ] || { echo "FAIL: a run that did not start left:"; find "$store"; exit 1; }
echo "ok: the store is empty after a run, and after one that did not start"

echo "== a job of the wrong size"
if mpi 3 "$sdsinf" run --launcher mpi --weights "$tmp/g" --images "$img" \
        --plan "$tmp/p4" >"$tmp/out" 2>&1; then
    echo "FAIL: 3 ranks ran a 4-worker plan"; exit 1
fi
n=$(grep -c "the plan has 4 workers but the MPI job has 3 ranks" "$tmp/out" || true)
[ "$n" = 1 ] || { echo "FAIL: wanted one message, got $n:"; cat "$tmp/out"; exit 1; }
echo "ok: refused once"
if "$sdsinf" run --launcher mpi --weights "$tmp/g" --images "$img" --workers 4 \
        >"$tmp/out" 2>&1; then
    echo "FAIL: --launcher mpi without --plan ran"; exit 1
fi
grep -q "needs --plan" "$tmp/out" || { cat "$tmp/out"; exit 1; }
echo "ok: --plan required"

echo "== a damaged shard"
cp -r "$tmp/p8" "$tmp/bad"
shard=$tmp/bad/shard-5.sdsinf
size=$(wc -c <"$shard")
for how in truncated flipped; do
    cp "$tmp/p8/shard-5.sdsinf" "$shard"
    if [ $how = truncated ]; then
        truncate -s $((size / 2)) "$shard"
    else
        printf 'SDSINFCORRUPTED!' | dd of="$shard" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
    fi
    if mpi 8 "$sdsinf" run --launcher mpi --weights "$tmp/g" --images "$img" \
            --plan "$tmp/bad" --out "$tmp/cats" >"$tmp/out" 2>&1; then
        echo "FAIL: a $how shard ran"; exit 1
    fi
    n=$(grep -c "^sdsinf: error ECORRUPT: worker 5, its shard: $shard: .*; the run did not start" "$tmp/out" || true)
    [ "$n" = 1 ] || { echo "FAIL: the $how shard not named once:"; cat "$tmp/out"; exit 1; }
    [ ! -e "$tmp/cats" ] || { echo "FAIL: --out written"; exit 1; }
    echo "ok: $how: $(grep '^sdsinf: error' "$tmp/out")"
done

echo "== a rank killed mid-run"
start=$(date +%s)
if SDSINF_TEST_KILL=2:4 mpi 4 -x SDSINF_TEST_KILL "$sdsinf" run --launcher mpi \
        --weights "$tmp/g" --images "$img" --plan "$tmp/p4" --out "$tmp/cats" \
        >"$tmp/out" 2>&1; then
    echo "FAIL: the run succeeded"; exit 1
fi
took=$(( $(date +%s) - start ))
grep -q "rank 2" "$tmp/out" || { echo "FAIL: rank 2 not named:"; cat "$tmp/out"; exit 1; }
[ "$took" -lt 30 ] || { echo "FAIL: took ${took}s"; exit 1; }
[ ! -e "$tmp/cats" ] || { echo "FAIL: --out written"; exit 1; }
sleep 1
if pgrep -f "$tmp/g" >/dev/null; then echo "FAIL: processes left"; pgrep -af "$tmp/g"; exit 1; fi
echo "ok: ended in ${took}s naming rank 2, nothing left"

echo "== mpirun interrupted, channel local"
export SDSINF_SCRATCH=$tmp/scratch # private: other runs' state is not ours
mkdir "$SDSINF_SCRATCH"
"$sdsinf" generate --neurons 1024 --layers 120 --images 2000 --out "$tmp/big" >/dev/null
"$sdsinf" convert --weights "$tmp/big" --out "$tmp/big.sdsinf" >/dev/null
"$sdsinf" partition --weights "$tmp/big.sdsinf" --workers 8 --method block \
    --out "$tmp/bigplan" >/dev/null
big_run() { # a run of a few seconds in the background (in batches, so
    # that it lasts past the signal on a fast machine too); its pid in $pid
    # (Open MPI's own segments in $tmp: a SIGKILLed mpirun leaves them)
    mpirun --oversubscribe -n 8 --mca btl_vader_backing_directory "$tmp" \
        -x SDSINF_SCRATCH "$sdsinf" run --launcher mpi \
        --channel local --weights "$tmp/big.sdsinf" \
        --images "$tmp/big/sparse-images-1024.tsv" --plan "$tmp/bigplan" \
        --batch-size 200 --out "$tmp/cats" >"$tmp/out" 2>&1 &
    pid=$!
    for _ in $(seq 300); do
        compgen -G "$SDSINF_SCRATCH/sdsinf-*/*.shm" >/dev/null && { sleep 0.3; return 0; }
        sleep 0.1
    done
    echo "FAIL: the run did not start"; cat "$tmp/out"; exit 1
}
state() { find "$SDSINF_SCRATCH" -mindepth 1; }
for sig in INT TERM; do
    big_run
    kill -$sig $pid
    if wait $pid; then echo "FAIL: SIG$sig: mpirun exited 0"; exit 1; fi
    # mpirun passes SIGTERM on to the ranks
    grep -q "^sdsinf: interrupted (SIGTERM): stopped 8 workers and removed the run's channel state (channel local)" "$tmp/out" ||
        { echo "FAIL: SIG$sig: the message"; cat "$tmp/out"; exit 1; }
    sleep 1
    if pgrep -f "$tmp/big.sdsinf" >/dev/null; then echo "FAIL: processes left"; exit 1; fi
    [ -z "$(state)" ] || { echo "FAIL: SIG$sig left:"; state; exit 1; }
    [ ! -e "$tmp/cats" ] || { echo "FAIL: --out written"; exit 1; }
    echo "ok: SIG$sig to mpirun: $(grep '^sdsinf:' "$tmp/out")"
done
big_run
kill -KILL $pid
wait $pid || true
sleep 2 # the ranks go with mpirun
if pgrep -f "$tmp/big.sdsinf" >/dev/null; then echo "FAIL: processes left"; exit 1; fi
# Open MPI may stop the ranks with SIGTERM (they clean up) or SIGKILL
# (their state stays, for sdsinf clean), depending on timing.
if [ -z "$(state)" ]; then
    echo "ok: SIGKILL to mpirun: the ranks were stopped and cleaned up"
else
    "$sdsinf" clean | grep -q "^removed 1 run's channel state" || { echo "FAIL: clean"; exit 1; }
    [ -z "$(state)" ] || { echo "FAIL: clean left:"; state; exit 1; }
    echo "ok: SIGKILL to mpirun left the segment; clean removed it"
fi

echo "== a rank killed mid-run, channel fs"
# Rank 0 made the run's state (run_create: the mark .created) and recorded
# itself as its owner: the ranks stopped by SIGTERM clean up, and what
# ranks stopped by SIGKILL leave is for sdsinf clean.
if SDSINF_TEST_KILL=2:4 mpi 4 -x SDSINF_TEST_KILL -x SDSINF_SCRATCH "$sdsinf" run \
        --launcher mpi --channel fs --weights "$tmp/g" --images "$img" \
        --plan "$tmp/p4" >"$tmp/out" 2>&1; then
    echo "FAIL: the run succeeded"; exit 1
fi
sleep 1
if [ -z "$(state)" ]; then
    echo "ok: killed rank, channel fs: the ranks cleaned up"
else
    compgen -G "$SDSINF_SCRATCH/sdsinf-store/*/.created" >/dev/null ||
        { echo "FAIL: no run_create mark in what is left:"; state; exit 1; }
    "$sdsinf" clean | grep -q "^removed 1 run's channel state" || { echo "FAIL: clean"; exit 1; }
    [ -z "$(state)" ] || { echo "FAIL: clean left:"; state; exit 1; }
    echo "ok: killed rank, channel fs: the state rank 0 made is left for clean, which removed it"
fi
unset SDSINF_SCRATCH

gc=$data/graphchallenge
if [ -z "$data" ] || [ ! -d "$gc/neuron1024" ]; then
    echo "SKIP: the real 6,000 images need the shared data (SDSINF_DATA)"
    exit 0
fi
echo "== the real 6,000 images on 8 ranks"
"$sdsinf" convert --weights "$gc/neuron1024" --out "$tmp/n1024.sdsinf" >/dev/null
"$sdsinf" partition --weights "$tmp/n1024.sdsinf" --workers 8 --out "$tmp/plan8" >/dev/null
mpi 8 "$sdsinf" run --launcher mpi --weights "$tmp/n1024.sdsinf" \
    --images "$gc/sparse-images-1024-first6000.tsv" --plan "$tmp/plan8" \
    --check "$gc/neuron1024-l120-categories-first6000.tsv" | tail -n 1 | tee "$tmp/out"
grep -q "check passed" "$tmp/out" || { echo "FAIL: golden check"; exit 1; }
echo "ok: golden categories"
