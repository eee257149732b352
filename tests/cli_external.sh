#!/usr/bin/env bash
# cli_external.sh SDSINF DATA - a run whose workers start from their specs
# alone: `sdsinf run --launcher external --specs-out DIR` writes
# DIR/worker-{w}.spec and waits for the workers' reports over the channel;
# this script starts each `sdsinf worker --spec DIR/worker-{w}.spec` itself
# (one with the spec on standard input), over the fs and local channels,
# with and without --plan, and the scores equal `sdsinf infer`'s bit for
# bit; the specs and the run's files are gone afterwards.  A run where
# some worker never starts ends once its start timeout is past, naming
# those workers, exit 1, with no output and nothing left in the channel
# (the workers that did start fail).  A bad spec is
# refused naming its line, and external without --specs-out says what to
# give.  With the shared data, the real 6,000 images on 4 such workers
# reproduce the golden categories.
set -eu
sdsinf=$1 data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SDSINF_SCRATCH=$tmp/scratch # private: nothing may be left in it
mkdir "$SDSINF_SCRATCH"
"$sdsinf" generate --neurons 128 --layers 8 --images 60 --seed 5 --out "$tmp/g" >/dev/null
img=$tmp/g/sparse-images-128.tsv
"$sdsinf" infer --weights "$tmp/g" --images "$img" --scores "$tmp/single.tsv" --quiet
"$sdsinf" partition --weights "$tmp/g" --workers 3 --out "$tmp/plan" >/dev/null

external() { # label, workers, weights, images, scores, run arguments...
    local label=$1 w=$2 weights=$3 images=$4 scores=$5 specs=$tmp/specs pids=()
    shift 5
    timeout 300 "$sdsinf" run --launcher external --specs-out "$specs" \
        --weights "$weights" --images "$images" --scores "$scores" "$@" \
        >"$tmp/out" 2>"$tmp/err" &
    local run=$!
    for _ in $(seq 600); do
        [ "$(ls "$specs" 2>/dev/null | grep -c '^worker-[0-9]*\.spec$')" = "$w" ] && break
        sleep 0.1
    done
    [ "$(ls "$specs" | grep -c '^worker-[0-9]*\.spec$')" = "$w" ] ||
        { echo "FAIL: $label: no specs"; cat "$tmp/err"; exit 1; }
    for i in $(seq 1 $((w - 1))); do
        "$sdsinf" worker --spec "$specs/worker-$i.spec" & pids+=($!)
    done
    "$sdsinf" worker --spec - <"$specs/worker-0.spec" & pids+=($!)
    for p in "${pids[@]}"; do wait "$p" || { echo "FAIL: $label: a worker failed"; exit 1; }; done
    wait "$run" || { echo "FAIL: $label: the run failed"; cat "$tmp/err"; exit 1; }
    [ ! -e "$specs" ] || { echo "FAIL: $label: specs (or their directory) left"; ls "$specs"; exit 1; }
    [ -z "$(find "$SDSINF_SCRATCH" -mindepth 1)" ] ||
        { echo "FAIL: $label: files left"; find "$SDSINF_SCRATCH"; exit 1; }
    echo "ok: $label: $(tail -n 1 "$tmp/out")"
}
same() { cmp "$tmp/s.tsv" "$tmp/single.tsv" || { echo "FAIL: $1 differs"; exit 1; }; }

external "3 workers, fs channel" 3 "$tmp/g" "$img" "$tmp/s.tsv" --workers 3
same "fs channel"
external "3 workers, shards from --plan, local channel" 3 "$tmp/g" "$img" \
    "$tmp/s.tsv" --plan "$tmp/plan" --channel local
same "--plan, local channel"
external "5 workers, batches, raw codec, bias given" 5 "$tmp/g" "$img" \
    "$tmp/s.tsv" --workers 5 --batch-size 16 --codec raw --bias "$tmp/g/bias.tsv"
same "batches"

echo "== workers that never start: the run ends within its start timeout, naming them"
partial() { # label, workers to start (ids), expected message, start
            # timeout, message timeout (ms)
    local label=$1 start=$2 want=$3 specs=$tmp/specs pids=() rc=0 t0
    t0=$(date +%s)
    timeout 120 "$sdsinf" run --launcher external --specs-out "$specs" \
        --weights "$tmp/g" --images "$img" --workers 3 --scores "$tmp/part.tsv" \
        --start-timeout-ms "$4" --timeout-ms "$5" >"$tmp/out" 2>"$tmp/err" &
    local run=$!
    for _ in $(seq 600); do
        [ "$(ls "$specs" 2>/dev/null | grep -c '^worker-[0-9]*\.spec$')" = 3 ] && break
        sleep 0.1
    done
    for i in $start; do
        "$sdsinf" worker --quiet --spec "$specs/worker-$i.spec" & pids+=($!)
    done
    wait "$run" || rc=$?
    [ "$rc" = 1 ] || { echo "FAIL: $label: exit $rc, not 1"; cat "$tmp/err"; exit 1; }
    grep -q "$want" "$tmp/err" || { echo "FAIL: $label: the message"; cat "$tmp/err"; exit 1; }
    [ $(( $(date +%s) - t0 )) -le 30 ] || { echo "FAIL: $label: too slow"; exit 1; }
    for p in "${pids[@]}"; do
        if wait "$p"; then echo "FAIL: $label: a worker of the failed run succeeded"; exit 1; fi
    done
    [ ! -e "$tmp/part.tsv" ] || { echo "FAIL: $label: --scores written"; exit 1; }
    [ ! -e "$specs" ] || { echo "FAIL: $label: specs (or their directory) left"; ls "$specs"; exit 1; }
    [ -z "$(find "$SDSINF_SCRATCH" -mindepth 1)" ] ||
        { echo "FAIL: $label: files left"; find "$SDSINF_SCRATCH"; exit 1; }
    echo "ok: $label: exit $rc, $(cat "$tmp/err")"
}
partial "no worker started" "" \
    "worker(s) 0,1,2 never started: no word from them on channel fs within 2000 ms" 2000 4000
partial "workers 0 and 2 of 3 started" "0 2" \
    "worker(s) 1 never started: no word from them on channel fs within 2000 ms" 2000 4000
partial "workers 0 and 2 started, they time out first" "0 2" \
    "worker(s) 1 never started (no word from them on channel fs), so the others failed: worker [02], layer [0-9]" \
    20000 2000

echo "== relative paths: the specs name them absolute, workers start elsewhere"
mkdir "$tmp/cwd"
cp -r "$tmp/plan" "$tmp/cwd/rel-plan"
(cd "$tmp/cwd" && exec timeout 120 "$sdsinf" run --launcher external \
    --specs-out specs --plan rel-plan --channel fs --channel-config rel-store \
    --weights "$tmp/g" --images "$img" --scores "$tmp/s.tsv" >"$tmp/out" 2>"$tmp/err") &
run=$!
for _ in $(seq 600); do
    [ "$(ls "$tmp/cwd/specs" 2>/dev/null | grep -c '^worker-[0-9]*\.spec$')" = 3 ] && break
    sleep 0.1
done
grep -q "^plan $tmp/cwd/rel-plan$" "$tmp/cwd/specs/worker-0.spec" &&
    grep -q "^channel_config $tmp/cwd/rel-store$" "$tmp/cwd/specs/worker-0.spec" ||
    { echo "FAIL: relative paths in the spec"; cat "$tmp/cwd/specs/worker-0.spec"; exit 1; }
pids=()
for i in 0 1 2; do
    (cd / && exec "$sdsinf" worker --quiet --spec "$tmp/cwd/specs/worker-$i.spec") & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { echo "FAIL: a worker started from / failed"; exit 1; }; done
wait "$run" || { echo "FAIL: the run of relative paths failed"; cat "$tmp/err"; exit 1; }
same "relative paths"
echo "ok: relative --plan and --channel-config, workers started from /"

echo "== a worker that cannot load its data: the run ends at once, naming it"
rm "$tmp/cwd/rel-plan/shard-1.sdsinf"
t0=$(date +%s)
(cd "$tmp/cwd" && exec timeout 120 "$sdsinf" run --launcher external \
    --specs-out specs --plan rel-plan --weights "$tmp/g" --images "$img" \
    --scores "$tmp/part.tsv" --start-timeout-ms 60000 >"$tmp/out" 2>"$tmp/err") &
run=$!
for _ in $(seq 600); do
    [ "$(ls "$tmp/cwd/specs" 2>/dev/null | grep -c '^worker-[0-9]*\.spec$')" = 3 ] && break
    sleep 0.1
done
rc=0
"$sdsinf" worker --quiet --spec "$tmp/cwd/specs/worker-1.spec" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || { echo "FAIL: worker 1 without its shard: exit $rc"; exit 1; }
rc=0
wait "$run" || rc=$?
[ "$rc" = 1 ] || { echo "FAIL: the run of a failed worker: exit $rc"; cat "$tmp/err"; exit 1; }
grep -q "worker 1" "$tmp/err" && grep -q "shard-1" "$tmp/err" ||
    { echo "FAIL: the failed worker's error"; cat "$tmp/err"; exit 1; }
[ $(( $(date +%s) - t0 )) -le 30 ] || { echo "FAIL: the run waited its start timeout"; exit 1; }
[ ! -e "$tmp/cwd/specs" ] || { echo "FAIL: specs left"; exit 1; }
[ -z "$(find "$SDSINF_SCRATCH" -mindepth 1)" ] ||
    { echo "FAIL: files left"; find "$SDSINF_SCRATCH"; exit 1; }
echo "ok: worker 1 failed to load; the run ended at once: $(cat "$tmp/err")"
rm -rf "$tmp/cwd"

echo "== bad specs and options"
printf 'sdsinf-worker-spec 1\nrun 1\nworkers two\n' >"$tmp/bad.spec"
if "$sdsinf" worker --spec "$tmp/bad.spec" 2>"$tmp/err"; then echo "FAIL: a bad spec ran"; exit 1; fi
grep -q "line 3: workers: not an integer" "$tmp/err" || { cat "$tmp/err"; exit 1; }
if "$sdsinf" worker 2>"$tmp/err"; then echo "FAIL: worker without --spec ran"; exit 1; fi
grep -q "worker needs --spec" "$tmp/err" || { cat "$tmp/err"; exit 1; }
rc=0
"$sdsinf" run --launcher external --weights "$tmp/g" --images "$img" --workers 2 \
    2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] || { echo "FAIL: external without --specs-out: exit $rc, not 2"; exit 1; }
grep -q "specs_dir, --specs-out DIR" "$tmp/err" || { cat "$tmp/err"; exit 1; }
# A directory that holds specs already is refused (bad usage), untouched.
mkdir "$tmp/held" && echo mine >"$tmp/held/worker-0.spec"
rc=0
"$sdsinf" run --launcher external --specs-out "$tmp/held" --weights "$tmp/g" \
    --images "$img" --workers 2 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] || { echo "FAIL: --specs-out over specs: exit $rc, not 2"; cat "$tmp/err"; exit 1; }
grep -q "already holds workers' specs" "$tmp/err" || { cat "$tmp/err"; exit 1; }
[ "$(cat "$tmp/held/worker-0.spec")" = mine ] || { echo "FAIL: a spec overwritten"; exit 1; }
[ -z "$(find "$SDSINF_SCRATCH" -mindepth 1)" ] ||
    { echo "FAIL: a refused run left files"; find "$SDSINF_SCRATCH"; exit 1; }
echo "ok: refused, named"

gc=$data/graphchallenge
if [ -d "$gc/neuron1024" ]; then
    echo "== the real 1024 x 120 network, 6,000 images, 4 external workers"
    "$sdsinf" convert --weights "$gc/neuron1024" --out "$tmp/n1024.sdsinf" >/dev/null
    "$sdsinf" partition --weights "$tmp/n1024.sdsinf" --workers 4 \
        --images "$gc/sparse-images-1024-first6000.tsv" --out "$tmp/plan4" >/dev/null
    external "real data" 4 "$tmp/n1024.sdsinf" "$gc/sparse-images-1024-first6000.tsv" \
        "$tmp/real.tsv" --plan "$tmp/plan4" \
        --check "$gc/neuron1024-l120-categories-first6000.tsv"
    grep -q "check passed" "$tmp/out" || { echo "FAIL: golden check"; exit 1; }
else
    echo "SKIP (real data): $gc not found"
fi
echo PASS
