#!/usr/bin/env bash
# cli_redis.sh SDSINF DATA - `sdsinf run --channel redis` against the private
# server tests/with_redis.sh starts ($SDSINF_REDIS_URL, $SDSINF_REDIS_PORT,
# $SDSINF_REDIS_SOCKET): distributed runs on local processes and threads
# equal `sdsinf infer` (categories and every score), over TCP, a Unix socket
# and another database; a worker killed mid-run ends the run within the
# timeout, naming it, with no process and no key left; one killed with
# SIGKILL leaves its keys, which `sdsinf clean` removes through the
# channel (from the run's owner record); 4 ranks of mpirun (the mpi
# launcher) leave no key either; bad settings fail
# with a clear error; with the shared data, the real 6,000 images on 8
# workers reproduce the golden categories.  with_redis.sh then checks that
# the server holds no key at all.
set -eu
sdsinf=$1 data=$2
: "${SDSINF_REDIS_PORT:?run me through tests/with_redis.sh}"
cli() { redis-cli -p "$SDSINF_REDIS_PORT" "$@"; }
no_keys() { # label
    local n
    n=$(cli info keyspace | grep -c '^db' || true)
    [ "$n" = 0 ] || { echo "FAIL: $1 left keys:"; cli --scan | head; exit 1; }
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$sdsinf" generate --neurons 128 --layers 8 --images 60 --seed 5 --out "$tmp/g" >/dev/null
img=$tmp/g/sparse-images-128.tsv
"$sdsinf" infer --weights "$tmp/g" --images "$img" --scores "$tmp/single.tsv" \
    --out "$tmp/single-cats.tsv" --quiet
check() { # label, run arguments...
    local label=$1; shift
    "$sdsinf" run --weights "$tmp/g" --images "$img" --scores "$tmp/s.tsv" \
        --out "$tmp/cats.tsv" --channel redis "$@" --json | tail -n 1 >"$tmp/j"
    cmp "$tmp/s.tsv" "$tmp/single.tsv" || { echo "FAIL: $label: scores differ"; exit 1; }
    cmp "$tmp/cats.tsv" "$tmp/single-cats.tsv" || { echo "FAIL: $label: categories differ"; exit 1; }
    grep -q '"channel":"redis"' "$tmp/j"
    no_keys "$label"
    echo "ok: $label"
}
for w in 1 3 8; do
    check "W=$w local processes" --workers $w
done
check "W=6 threads" --workers 6 --launcher threads
check "4 x 2 levels, batches" --workers 20 --bfr 4 --nlevels 2 --batch-size 16
check "unix socket, database 2" --workers 4 \
    --channel-config "unix://$SDSINF_REDIS_SOCKET?db=2&ttl=60"
check "URL with database and ttl" --workers 3 \
    --channel-config "redis://127.0.0.1:$SDSINF_REDIS_PORT/1?ttl=30"

echo "== a worker killed at layer 3"
start=$(date +%s)
if SDSINF_TEST_KILL=2:3 "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 6 \
        --channel redis --timeout-ms 5000 2>"$tmp/err"; then
    echo "FAIL: the run succeeded"; exit 1
fi
cat "$tmp/err"
grep -q "worker 2 died" "$tmp/err"
[ $(( $(date +%s) - start )) -le 30 ]
sleep 0.2
if pgrep -f "$tmp/g" >/dev/null; then echo "FAIL: processes left behind"; exit 1; fi
no_keys "the killed run"
echo "ok: killed run"

echo "== the ranks of mpirun (the mpi launcher): rank 0 makes and removes the keys"
"$sdsinf" partition --weights "$tmp/g" --workers 4 --method block --out "$tmp/p4" >/dev/null
if ! command -v mpirun >/dev/null; then
    echo "SKIP (mpi launcher): mpirun not installed (apt-get install openmpi-bin)"
elif OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$sdsinf" run \
        --launcher mpi --plan "$tmp/p4" --weights "$tmp/g" --images "$img" 2>&1 |
        grep -q "has no MPI"; then
    echo "SKIP (mpi launcher): this build has no MPI"
else
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 300 \
        mpirun --oversubscribe -n 4 "$sdsinf" run --launcher mpi --channel redis \
        --channel-config "$SDSINF_REDIS_URL" --weights "$tmp/g" --images "$img" \
        --plan "$tmp/p4" --scores "$tmp/s.tsv" --quiet
    cmp "$tmp/s.tsv" "$tmp/single.tsv" || { echo "FAIL: mpi launcher: scores differ"; exit 1; }
    no_keys "the mpi launcher's run"
    echo "ok: 4 ranks over redis"
fi

echo "== a run killed with SIGKILL: sdsinf clean removes its keys"
export SDSINF_SCRATCH=$tmp/scratch # where the run's owner record goes
mkdir "$SDSINF_SCRATCH"
"$sdsinf" generate --neurons 1024 --layers 120 --images 2000 --out "$tmp/big" >/dev/null
"$sdsinf" convert --weights "$tmp/big" --out "$tmp/big.sdsinf" >/dev/null
"$sdsinf" partition --weights "$tmp/big.sdsinf" --workers 4 --method block \
    --out "$tmp/bigplan" >/dev/null
"$sdsinf" run --weights "$tmp/big.sdsinf" --images "$tmp/big/sparse-images-1024.tsv" \
    --plan "$tmp/bigplan" --channel redis --batch-size 100 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do # until the run has keys (run_create's mark)
    [ "$(cli --scan | wc -l)" -gt 0 ] && break
    sleep 0.1
done
sleep 0.5 # its layers run
kill -KILL "$pid"
wait "$pid" || true
sleep 0.5 # the workers die with it
if pgrep -f "$tmp/big" >/dev/null; then echo "FAIL: processes left behind"; exit 1; fi
[ "$(cli --scan | wc -l)" -gt 0 ] || { echo "FAIL: the killed run left no key"; exit 1; }
"$sdsinf" clean --json >"$tmp/out"
grep -q '"channel":"redis","items":[1-9][0-9]*}\],"runs":1,' "$tmp/out" ||
    { echo "FAIL: clean of a redis run"; cat "$tmp/out"; exit 1; }
no_keys "clean"
[ -z "$(find "$SDSINF_SCRATCH" -mindepth 1)" ] ||
    { echo "FAIL: clean left:"; find "$SDSINF_SCRATCH"; exit 1; }
unset SDSINF_SCRATCH
echo "ok: clean removed the killed run's keys: $(cat "$tmp/out")"

echo "== bad settings"
fails() { # label, text the error must hold, run arguments...
    local label=$1 want=$2; shift 2
    if "$sdsinf" run --weights "$tmp/g" --images "$img" --workers 2 --channel redis \
            --timeout-ms 5000 "$@" 2>"$tmp/err" >/dev/null; then
        echo "FAIL: $label: the run succeeded"; exit 1
    fi
    grep -q -- "$want" "$tmp/err" || { echo "FAIL: $label:"; cat "$tmp/err"; exit 1; }
    echo "ok: $label: $(cat "$tmp/err")"
}
fails "no server" "redis-server --port" --channel-config redis://127.0.0.1:1
fails "TLS" "TLS (rediss://) needs hiredis >= 1.0" --channel-config rediss://127.0.0.1:6379
fails "bad URL" "bad URL" --channel-config "redis://127.0.0.1:port"
cli config set requirepass sekret >/dev/null
fails "no password" "needs a password"
SDSINF_REDIS_PASSWORD=sekret check "password from the environment" --workers 2
check "password in the URL" --workers 2 \
    --channel-config "redis://:sekret@127.0.0.1:$SDSINF_REDIS_PORT"
cli -a sekret --no-auth-warning config set requirepass "" >/dev/null

gc=$data/graphchallenge
if [ -d "$gc/neuron1024" ]; then
    echo "== the real 1024 x 120 network, 6,000 images, 8 workers, over redis"
    "$sdsinf" run --weights "$gc/neuron1024" --images "$gc/sparse-images-1024-first6000.tsv" \
        --workers 8 --channel redis --check "$gc/neuron1024-l120-categories-first6000.tsv" \
        --json | tail -n 1 | tee "$tmp/j"
    grep -q '"check":"pass"' "$tmp/j"
    no_keys "the real run"
else
    echo "SKIP (real data): $gc not found"
fi
echo PASS
