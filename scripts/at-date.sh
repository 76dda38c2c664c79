#!/usr/bin/env bash
# The tests with the machine's clock moved: `scripts/at-date.sh DATE [PYTEST ARGS...]`, or
# `make test-at DATE='2026-12-31 22:30:00' [PYTEST_ARGS=...]`. DATE is UTC; the clock starts
# there and runs on (libfaketime's `faketime -f @DATE`). Unless a test path is named it runs the
# tests that read a clock or compute with dates (DATE_TESTS below); `tests` runs the whole suite.
#
# What moves: the test process, chDB inside it, and every process it starts (the service, nginx,
# a test's private redis-server, SMTP servers); the monotonic clock moves with it but runs at the
# real pace (libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC breaks Python's sleep: EINVAL).
# What does not: the shared Redis on :6379, started before (its TIME, stream ids and TTLs keep the
# real date). So a date-proof test takes "now" from one clock only: the injected one, or the
# machine's, never the one to build a key and the other to read it back.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

[ $# -ge 1 ] || die "usage: scripts/at-date.sh 'YYYY-MM-DD HH:MM:SS' [pytest arguments...]"
when=$1
shift
date -u -d "$when" >/dev/null 2>&1 || die "not a date: $when"
DATE_TESTS=(
    tests/test_periods.py tests/test_quotas.py tests/test_ledger.py tests/test_decisions.py
    tests/test_events_api.py tests/test_history.py tests/test_writer.py tests/test_queries.py
    tests/test_reports.py tests/test_reports_schedule.py tests/test_e2e_reports.py tests/test_alerts.py
    tests/test_jobs.py tests/test_caps_history.py tests/test_allocation_service.py tests/test_startup.py
    tests/test_e2e_crash.py tests/test_redis_durability.py tests/test_portal_links.py
    tests/test_collect_access_log.py tests/test_collect_rotations.py tests/test_collect_ods.py
    tests/test_compliance_checks.py tests/test_authz.py
)
named=0
for arg in "$@"; do [[ $arg == -* ]] || named=1; done
[ "$named" -eq 1 ] || set -- "$@" "${DATE_TESTS[@]}"  # options only: with the date-dependent tests

scripts/test-deps.sh faketime
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export TZ=UTC
note "running pytest at $(date -u -d "$when" '+%Y-%m-%d %H:%M:%S UTC') (the real date is $(date -u '+%Y-%m-%d %H:%M'))"
exec faketime -f "@$(date -u -d "$when" '+%Y-%m-%d %H:%M:%S')" "$VENV_PY" -m pytest -q -p no:cacheprovider "$@"
