#!/usr/bin/env bash
# with_redis.sh COMMAND [ARG...] - runs COMMAND against a private Redis
# server: redis-server (Debian's) on 127.0.0.1 at a free port, in a
# temporary directory, no persistence, also listening on a Unix socket;
# SDSINF_REDIS_URL, SDSINF_REDIS_PORT, SDSINF_REDIS_SOCKET and
# SDSINF_REDIS_PID tell COMMAND where it is.  Afterwards the server must hold no key in any database
# (every run cleaned up after itself), else the test fails listing them.  Exits with COMMAND's status; 77 (CTest's skip) when
# redis-server or redis-cli is not installed (scripts/install-deps.sh
# installs them).
set -u
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "SKIP: redis-server/redis-cli not installed (apt-get install redis-server)"
    exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-redis.XXXXXX")
pid=
stop() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

# A port nobody listens on, tried until a server binds it.
for attempt in 1 2 3 4 5 6 7 8; do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM + $$) % 40000 ))
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --dir "$dir" --logfile "$dir/redis.log" \
        --unixsocket "$dir/redis.sock" --unixsocketperm 700 &
    pid=$!
    for i in $(seq 100); do
        if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then break 2; fi
        kill -0 "$pid" 2>/dev/null || break   # it could not bind: another port
        sleep 0.05
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
done
if [ -z "$pid" ]; then
    echo "FAIL: could not start redis-server on 127.0.0.1"
    cat "$dir/redis.log" 2>/dev/null | tail -n 5
    exit 1
fi

export SDSINF_REDIS_URL="redis://127.0.0.1:$port" SDSINF_REDIS_PORT=$port
export SDSINF_REDIS_SOCKET=$dir/redis.sock SDSINF_REDIS_PID=$pid
"$@"
rc=$?
left=$(redis-cli -s "$dir/redis.sock" info keyspace | grep '^db')
if [ -n "$left" ]; then
    echo "FAIL: the server holds keys after the test: $left"
    for db in $(echo "$left" | sed 's/^db\([0-9]*\):.*/\1/'); do
        redis-cli -s "$dir/redis.sock" -n "$db" --scan | head -n 20
    done
    [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
