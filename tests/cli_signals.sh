#!/usr/bin/env bash
# cli_signals.sh SDSINF DATA - an interrupted run cleans up after itself:
# SIGINT (to the whole process group, as a terminal's ^C sends it, or to
# the coordinator alone) and SIGTERM stop the workers, remove the run's
# channel state (local and fs channels; local processes, a launch tree and
# threads) and exit 130 or 143 saying so, with no process, no scratch file
# and no --out file left.  A run killed with SIGKILL leaves its state with
# its owner record; `sdsinf clean` (after --dry-run and --json, which
# remove nothing) and, separately, the next run remove it, while a live
# run's state, state of a reused pid and state without an owner record are
# told apart.  The sweep goes through the channel the run's owner record
# names: the objects of an fs run in a store of its own go too; a record
# naming a channel this program lacks, or not a record at all, is kept.
set -eu
sdsinf=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SDSINF_SCRATCH=$tmp/scratch # private: other runs' state is not ours
mkdir "$SDSINF_SCRATCH"
set -m # each background run in its own process group, SIGINT not ignored
"$sdsinf" generate --neurons 1024 --layers 120 --images 2000 --out "$tmp/g" >/dev/null
"$sdsinf" convert --weights "$tmp/g" --out "$tmp/m.sdsinf" >/dev/null
for w in 6 8; do
    "$sdsinf" partition --weights "$tmp/m.sdsinf" --workers $w --method block \
        --out "$tmp/plan$w" >/dev/null
done
img=$tmp/g/sparse-images-1024.tsv

started() { # waits for a run's owner record, then for its layers to run
    for _ in $(seq 300); do
        if compgen -G "$SDSINF_SCRATCH/sdsinf-*/*.owner" >/dev/null ||
           compgen -G "$SDSINF_SCRATCH/sdsinf-store/*/owner" >/dev/null; then
            sleep 0.7
            return 0
        fi
        sleep 0.1
    done
    echo "FAIL: the run did not start"; exit 1
}
state() { # what the scratch directory holds (the fs store goes with its
          # last run)
    find "$SDSINF_SCRATCH" -mindepth 1
}
no_processes() {
    if pgrep -f "$tmp/m.sdsinf" >/dev/null; then
        echo "FAIL: $1: processes left:"; pgrep -af "$tmp/m.sdsinf"; exit 1
    fi
}

interrupt() { # label, signal, group|coordinator, workers, run arguments...
    local label=$1 sig=$2 to=$3 w=$4 rc=0; shift 4
    "$sdsinf" run --weights "$tmp/m.sdsinf" --images "$img" --plan "$tmp/plan$w" \
        --out "$tmp/cats" --scores "$tmp/scores" "$@" >"$tmp/out" 2>"$tmp/err" &
    local pid=$!
    started
    if [ "$to" = group ]; then kill -"$sig" -- -"$pid"; else kill -"$sig" "$pid"; fi
    wait "$pid" || rc=$?
    local want=143
    [ "$sig" = INT ] && want=130
    [ "$rc" = "$want" ] || { echo "FAIL: $label: exit $rc, not $want"; cat "$tmp/err"; exit 1; }
    grep -q "^sdsinf: interrupted (SIG$sig): stopped $w workers and removed the run's channel state" "$tmp/err" ||
        { echo "FAIL: $label: the message"; cat "$tmp/err"; exit 1; }
    no_processes "$label"
    [ -z "$(state)" ] || { echo "FAIL: $label: state left:"; state; exit 1; }
    if ls "$tmp" | grep -q -e '^cats' -e '^scores'; then
        echo "FAIL: $label: an output file was written"; ls "$tmp"; exit 1
    fi
    echo "ok: $label: exit $rc, $(cat "$tmp/err")"
}

echo "== SIGINT and SIGTERM"
interrupt "^C, local channel" INT group 8
interrupt "^C, fs channel" INT group 8 --channel fs
interrupt "SIGINT to the coordinator, local channel" INT coordinator 8
interrupt "SIGTERM, local channel" TERM coordinator 8
interrupt "SIGTERM, fs channel" TERM coordinator 8 --channel fs
interrupt "^C, a launch tree of 2 x 2 levels" INT group 6 --bfr 2 --nlevels 2
interrupt "SIGTERM, threads, local channel" TERM coordinator 8 --launcher threads \
    --channel local
interrupt "^C, threads, fs channel" INT group 8 --launcher threads --channel fs

killed() { # channel: a run killed with SIGKILL, its state left
    "$sdsinf" run --weights "$tmp/m.sdsinf" --images "$img" --plan "$tmp/plan8" \
        --channel "$1" >/dev/null 2>&1 &
    local pid=$! rc=0
    started
    kill -KILL "$pid"
    wait "$pid" || rc=$?
    [ "$rc" = 137 ] || { echo "FAIL: SIGKILL: exit $rc"; exit 1; }
    sleep 0.5 # the workers die with it
    no_processes "SIGKILL, channel $1"
    [ -n "$(state)" ] || { echo "FAIL: SIGKILL left no state to sweep"; exit 1; }
}

echo "== SIGKILL, then sdsinf clean"
killed local
dir=$(ls -d "$SDSINF_SCRATCH"/sdsinf-[0-9]*)
[ -f "$dir/$(basename "$dir" | cut -d- -f2).owner" ] || { echo "FAIL: no owner record"; ls "$dir"; exit 1; }
"$sdsinf" clean --dry-run --json >"$tmp/out"
grep -q '"dry_run":true,"removed":\[{"path":"'"$dir"'"' "$tmp/out" ||
    { echo "FAIL: clean --dry-run --json"; cat "$tmp/out"; exit 1; }
[ -d "$dir" ] || { echo "FAIL: --dry-run removed it"; exit 1; }
"$sdsinf" clean >"$tmp/out"
grep -q "^removed $dir: run [0-9]*, its owner (pid [0-9]*) gone: [0-9]* files, [0-9.]* MB$" "$tmp/out" &&
    grep -q "^removed 1 run's channel state" "$tmp/out" ||
    { echo "FAIL: clean"; cat "$tmp/out"; exit 1; }
[ -z "$(state)" ] || { echo "FAIL: clean left:"; state; exit 1; }
"$sdsinf" clean --json | grep -q '"removed":\[\],"runs":0' || { echo "FAIL: a second clean"; exit 1; }
echo "ok: SIGKILL left $dir; clean removed it: $(tail -n 1 "$tmp/out")"

echo "== SIGKILL, then the next run sweeps"
killed fs
"$sdsinf" run --weights "$tmp/g" --images "$img" --workers 2 --layers 2 >/dev/null
[ -z "$(state)" ] || { echo "FAIL: the next run left:"; state; exit 1; }
echo "ok: the next run removed the killed run's fs objects"

echo "== SIGKILL, fs objects in a store of their own: clean goes through the channel"
"$sdsinf" run --weights "$tmp/m.sdsinf" --images "$img" --plan "$tmp/plan8" \
    --channel fs --channel-config "$tmp/store" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do # until its workers have sent objects
    [ -n "$(find "$tmp/store" -name '*.msg' 2>/dev/null)" ] && break
    sleep 0.1
done
kill -KILL "$pid"
wait "$pid" || true
sleep 0.5 # the workers die with it
no_processes "SIGKILL, fs channel in a store of its own"
[ -n "$(find "$tmp/store" -name '*.msg')" ] || { echo "FAIL: no objects in the store"; exit 1; }
"$sdsinf" clean --dry-run >"$tmp/out"
grep -q "^  and its state on channel fs: [1-9][0-9]* items$" "$tmp/out" ||
    { echo "FAIL: clean --dry-run of an fs run"; cat "$tmp/out"; exit 1; }
"$sdsinf" clean --json >"$tmp/out"
grep -q '"channel":"fs","items":[1-9][0-9]*}\],"runs":1,' "$tmp/out" ||
    { echo "FAIL: clean of an fs run"; cat "$tmp/out"; exit 1; }
[ -z "$(ls -A "$tmp/store")" ] || { echo "FAIL: clean left in the store:"; find "$tmp/store"; exit 1; }
[ -z "$(state)" ] || { echo "FAIL: clean left:"; state; exit 1; }
rmdir "$tmp/store"
echo "ok: a killed run's objects in $tmp/store removed through the fs channel: $(cat "$tmp/out")"

echo "== SIGKILL, a relative store: the record holds it absolute, clean works from elsewhere"
mkdir "$tmp/cwd"
(cd "$tmp/cwd" && exec "$sdsinf" run --weights "$tmp/m.sdsinf" --images "$img" \
    --plan "$tmp/plan8" --channel fs --channel-config rel-store >/dev/null 2>&1) &
pid=$!
for _ in $(seq 600); do
    [ -n "$(find "$tmp/cwd/rel-store" -name '*.msg' 2>/dev/null)" ] && break
    sleep 0.1
done
kill -KILL "$pid"
wait "$pid" || true
sleep 0.5
no_processes "SIGKILL, a relative fs store"
grep -qx "config $tmp/cwd/rel-store" "$SDSINF_SCRATCH"/sdsinf-*/*.owner ||
    { echo "FAIL: the record's config is not absolute"; cat "$SDSINF_SCRATCH"/sdsinf-*/*.owner; exit 1; }
(cd / && "$sdsinf" clean --json) >"$tmp/out"
grep -q '"channel":"fs","items":[1-9][0-9]*}\],"runs":1,' "$tmp/out" ||
    { echo "FAIL: clean of a relative fs store from /"; cat "$tmp/out"; exit 1; }
[ -z "$(ls -A "$tmp/cwd/rel-store")" ] || { echo "FAIL: clean left in the store:"; find "$tmp/cwd/rel-store"; exit 1; }
[ -z "$(state)" ] || { echo "FAIL: clean left:"; state; exit 1; }
rm -rf "$tmp/cwd"
echo "ok: a relative store, recorded as $tmp/cwd/rel-store, cleaned from /"

echo "== what clean keeps"
mkdir "$SDSINF_SCRATCH/sdsinf-11" "$SDSINF_SCRATCH/sdsinf-12"
echo "$$ 1" >"$SDSINF_SCRATCH/sdsinf-11/11.owner" # a live pid, started later
touch "$SDSINF_SCRATCH/sdsinf-12/12.shm"           # no owner record
"$sdsinf" clean --json >"$tmp/out"
grep -q '"removed":\[{"path":"'"$SDSINF_SCRATCH/sdsinf-11"'".*"runs":1,.*"kept":1}' "$tmp/out" ||
    { echo "FAIL: clean of a reused pid's state"; cat "$tmp/out"; exit 1; }
unowned="$SDSINF_SCRATCH/sdsinf-12
$SDSINF_SCRATCH/sdsinf-12/12.shm"
[ "$(state)" = "$unowned" ] || { echo "FAIL: left:"; state; exit 1; }
"$sdsinf" run --weights "$tmp/m.sdsinf" --images "$img" --plan "$tmp/plan8" \
    >/dev/null 2>&1 &
pid=$!
started
"$sdsinf" clean --json >"$tmp/out"
live=$(state | grep -c owner || true)
kill -TERM "$pid"
wait "$pid" || true
grep -q '"removed":\[\],"runs":0,.*"kept":2}' "$tmp/out" && [ "$live" = 1 ] ||
    { echo "FAIL: clean beside a live run"; cat "$tmp/out"; exit 1; }
[ "$(state)" = "$unowned" ] || { echo "FAIL: left:"; state; exit 1; }
echo "ok: a reused pid's state removed; a live run's and an unowned one kept"

echo "== records clean cannot act on are kept"
mkdir "$SDSINF_SCRATCH/sdsinf-13" "$SDSINF_SCRATCH/sdsinf-14"
printf '1 1\nchannel nosuch\nworkers 2\n' >"$SDSINF_SCRATCH/sdsinf-13/13.owner" # a channel this program lacks
printf 'x\377\000 1 2\nchannel fs\n' >"$SDSINF_SCRATCH/sdsinf-14/14.owner"      # not a record
"$sdsinf" clean --json >"$tmp/out"
grep -q '"removed":\[\],"runs":0,.*"kept":3}' "$tmp/out" ||
    { echo "FAIL: clean of records it cannot act on"; cat "$tmp/out"; exit 1; }
[ -d "$SDSINF_SCRATCH/sdsinf-13" ] && [ -d "$SDSINF_SCRATCH/sdsinf-14" ] ||
    { echo "FAIL: clean removed them"; state; exit 1; }
echo "ok: a record naming a channel this program lacks, and one that is not a record, kept"
