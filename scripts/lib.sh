# shellcheck shell=bash
# Helpers shared by scripts/*.sh; sourced (from the repository root), never run on its own.

VENV_PY=.venv/bin/python

note() { printf 'meter: %s\n' "$*" >&2; }
warn() { printf 'meter: warning: %s\n' "$*" >&2; }
die() { printf 'meter: error: %s\n' "$*" >&2; exit 1; }

# A Redis URL fit for a log line: any password is masked.
redact() { sed -E 's#//[^/@]*@#//***@#' <<<"$1"; }

# Whether the URL names this machine: a private Redis stands in only for a loopback address,
# never for a remote one that is down (that would split the ledger in two).
is_loopback() {
    [[ $1 =~ ^rediss?://([^@/]*@)?(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?(/.*)?$ ]]
}

# redis_answers URL -> 0 it answers PING; 1 nothing answers there; 2 something answers but refuses
# us (password, TLS, ...); 4 it answers but is still loading its data set.
# Uses redis-py from the venv (the service's own client), else redis-cli.
redis_answers() {
    local rc
    if [ -x "$VENV_PY" ]; then
        "$VENV_PY" - "$1" <<'PY' && rc=0 || rc=$?
import sys
try:
    import redis
    from redis.exceptions import AuthenticationError, BusyLoadingError, RedisError
    from redis.exceptions import ConnectionError as NoConnection, TimeoutError as NoAnswer
except ImportError:
    sys.exit(3)
url = sys.argv[1]
try:
    redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping()
except BusyLoadingError:  # a subclass of ConnectionError: test it first
    sys.exit(4)
except AuthenticationError as exc:  # also a ConnectionError
    print(f"meter: Redis refused the connection: {exc}", file=sys.stderr)
    sys.exit(2)
except (NoConnection, NoAnswer, OSError):
    sys.exit(1)
except (RedisError, ValueError) as exc:
    print(f"meter: Redis answered with an error: {exc}", file=sys.stderr)
    sys.exit(2)
PY
        [ "$rc" -ne 3 ] && return "$rc"
    fi
    if command -v redis-cli >/dev/null 2>&1; then
        local out
        out=$(redis-cli -u "$1" ping 2>&1) || true
        case $out in
            PONG) return 0 ;;
            *LOADING*) return 4 ;;
            *NOAUTH*|*WRONGPASS*|*ERR*) printf 'meter: Redis answered: %s\n' "$out" >&2; return 2 ;;
            *) return 1 ;;
        esac
    fi
    die "cannot check Redis: no .venv/bin/python with redis-py (run 'make venv') and no redis-cli"
}

# wait_redis URL SECONDS -> 0 once it answers PING; the last redis_answers code on time-out.
wait_redis() {
    local url=$1 tries=$(( $2 * 5 )) rc=1
    while [ "$tries" -gt 0 ]; do
        redis_answers "$url" && return 0 || rc=$?
        [ "$rc" -eq 2 ] && return 2
        sleep 0.2
        tries=$(( tries - 1 ))
    done
    return "$rc"
}
