#!/usr/bin/env bash
# `make run`: serve the meter in the foreground, set up from METER_* variables.
#
# Defaults: METER_CONFIG=examples/demo-pool.toml, METER_REDIS_URL=redis://127.0.0.1:6379/0,
# METER_DATA_DIR=var; every other METER_* variable goes to the server as it is.
# Where no Redis answers at a loopback METER_REDIS_URL, a private one is started on :6390
# (scripts/private-redis.sh) and left running after the server stops: `make stop-redis` stops it.
# For the demo pool (pool id "demo", as in the demo file and copies of it), METER_SEED_SIGNATORIES
# defaults to examples/signatories.csv: the server imports it at start-up if the pool has no
# signatories yet, whichever Redis it uses, and METER_STARTUP_POOL_LINK to true: start-up logs a
# fresh link to the pool's page (DESIGN §11), to open in a browser.
# The last step execs the server, so SIGTERM reaches it and it shuts down cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

export METER_CONFIG="${METER_CONFIG:-examples/demo-pool.toml}"
export METER_REDIS_URL="${METER_REDIS_URL:-redis://127.0.0.1:6379/0}"
export METER_DATA_DIR="${METER_DATA_DIR:-var}"

[ -x .venv/bin/meter ] || die "no .venv/bin/meter: run 'make venv' first (or use 'make run')"
mkdir -p "$METER_DATA_DIR"

pool_id() {
    .venv/bin/python -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb")).get("pool", {}).get("id", ""))' \
        "$METER_CONFIG" 2>/dev/null || true
}
if [ -z "${METER_SEED_SIGNATORIES+set}" ] && [ "$(pool_id)" = demo ]; then
    export METER_SEED_SIGNATORIES=examples/signatories.csv
fi
if [ -z "${METER_STARTUP_POOL_LINK+set}" ] && [ "$(pool_id)" = demo ]; then
    export METER_STARTUP_POOL_LINK=true
fi

rc=0
redis_answers "$METER_REDIS_URL" || rc=$?
if [ "$rc" -eq 4 ]; then
    note "the Redis at $(redact "$METER_REDIS_URL") is loading its data; waiting"
    rc=0
    wait_redis "$METER_REDIS_URL" 60 || rc=$?
fi
case $rc in
    0) note "using the Redis at $(redact "$METER_REDIS_URL")" ;;
    2) die "a Redis answers at $(redact "$METER_REDIS_URL") but refuses the service (see above): fix METER_REDIS_URL" ;;
    *)
        is_loopback "$METER_REDIS_URL" \
            || die "no Redis answers at $(redact "$METER_REDIS_URL"); a private one stands in only for a loopback address"
        note "no Redis answers at $(redact "$METER_REDIS_URL")"
        METER_REDIS_URL=$(scripts/private-redis.sh start)
        note "using the private Redis at $METER_REDIS_URL (it keeps running after the server: 'make stop-redis')"
        ;;
esac

note "serving http://${METER_HTTP_HOST:-127.0.0.1}:${METER_HTTP_PORT:-8080} (pool file $METER_CONFIG, data in $METER_DATA_DIR)"
exec .venv/bin/meter serve
