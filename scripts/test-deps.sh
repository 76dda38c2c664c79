#!/usr/bin/env bash
# What `make test` needs besides the venv: a Redis on 127.0.0.1:6379 (the suite uses a real one),
# nginx (the gateway in the /v1/authz end-to-end test), promtool (checks /metrics), logrotate
# (rotates the access log under the collector) and chromium (the partners' pages in a real browser:
# Playwright drives Debian's chromium, nothing downloaded).
# As root with apt-get, missing Debian packages are installed (redis-server, nginx-light,
# prometheus, caddy, poppler-utils, logrotate, chromium), with one `apt-get update` only when something
# is missing; otherwise a missing Redis is an error and a missing nginx or promtool a warning.
# Arguments name more commands to install the same way, each from the Debian package of that name
# (`make bench` asks for wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

REDIS_URL=redis://127.0.0.1:6379/0
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"  # nginx lives in /usr/sbin

have() { command -v "$1" >/dev/null 2>&1; }

redis_rc=0
redis_answers "$REDIS_URL" || redis_rc=$?
[ "$redis_rc" -eq 4 ] && { wait_redis "$REDIS_URL" 60 && redis_rc=0 || redis_rc=$?; }
[ "$redis_rc" -eq 2 ] && die "a Redis at 127.0.0.1:6379 refuses connections (see above); the tests need one without a password"

missing=()
[ "$redis_rc" -ne 0 ] && ! have redis-server && missing+=(redis-server)
have nginx || missing+=(nginx-light)
have promtool || missing+=(prometheus)
have caddy || missing+=(caddy)  # the second real gateway of the /v1/authz end-to-end test (forward_auth)
have pdftotext || missing+=(poppler-utils)  # reads the text back out of the reports' PDFs; pdftoppm (same package) renders their pages
have logrotate || missing+=(logrotate)  # the collector's rotation tests run the real one
have chromium || missing+=(chromium)  # renders the reports' HTML; tests/test_portal_browser.py (Playwright, axe-core)
for extra in "$@"; do have "$extra" || missing+=("$extra"); done

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && have apt-get; then
        note "installing ${missing[*]} with apt-get"
        apt-get update -qq || warn "apt-get update failed; trying the install with the lists at hand"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    else
        for pkg in "${missing[@]}"; do
            case $pkg in
                redis-server) die "no Redis answers at 127.0.0.1:6379 and there is no redis-server binary: install the Debian package redis-server (as root: apt-get install redis-server) or start a Redis there" ;;
                *) warn "$pkg is not installed (not root, or no apt-get): the tests that need it will not pass" ;;
            esac
        done
    fi
fi

if [ "$redis_rc" -ne 0 ]; then
    # The package's own service may have started it just now.
    if redis_answers "$REDIS_URL"; then
        note "Redis answers at 127.0.0.1:6379"
    else
        note "starting a throw-away Redis for the tests on 127.0.0.1:6379 (no persistence)"
        log="${TMPDIR:-/tmp}/meter-test-redis.log"
        start_redis() {
            redis-server --daemonize yes --bind "$@" --port 6379 --save "" --appendonly no --logfile "$log"
        }
        # "-::1" (bind IPv6 loopback if there is one) needs Redis 7; older ones get IPv4 only.
        start_redis 127.0.0.1 -::1 2>/dev/null || start_redis 127.0.0.1 \
            || die "redis-server did not start (log: $log)"
        wait_redis "$REDIS_URL" 15 || die "the test Redis did not answer at 127.0.0.1:6379 within 15 s (log: $log)"
    fi
fi
note "test prerequisites ready: Redis at 127.0.0.1:6379, nginx: $(command -v nginx || echo missing), promtool: $(command -v promtool || echo missing), chromium: $(command -v chromium || echo missing)"
