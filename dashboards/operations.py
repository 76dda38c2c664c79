"""Operations: the service itself, from Prometheus (ingestion, stream lag, latencies, errors)."""
from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, prometheus, timeseries

from dashboards.clickhouse import PROMETHEUS
from dashboards.common import base

RATE = "$__rate_interval"

# (title, unit, [(expr, legend)]): every expression is evaluated by a real Prometheus in the tests.
PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Ingestion rate", "ops", [
        (f"sum(rate(meter_events_ingested_total[{RATE}]))", "accepted"),
        (f"sum(rate(meter_events_duplicate_total[{RATE}]))", "duplicates"),
        (f"sum(rate(meter_events_rejected_total[{RATE}]))", "rejected"),
    ]),
    ("Stream lag (events not yet in ClickHouse)", "short", [
        ("sum by (instance) (meter_stream_lag_events)", "{{instance}}"),
    ]),
    ("ClickHouse rows written", "rowsps", [
        (f"sum by (table) (rate(meter_rows_written_total[{RATE}]))", "{{table}}"),
    ]),
    ("Insert latency", "s", [
        (f"histogram_quantile(0.5, sum by (le) (rate(meter_insert_duration_seconds_bucket[{RATE}])))", "p50"),
        (f"histogram_quantile(0.99, sum by (le) (rate(meter_insert_duration_seconds_bucket[{RATE}])))", "p99"),
    ]),
    ("Decision latency", "s", [
        (f"histogram_quantile(0.5, sum by (le) (rate(meter_decision_duration_seconds_bucket[{RATE}])))", "p50"),
        (f"histogram_quantile(0.99, sum by (le) (rate(meter_decision_duration_seconds_bucket[{RATE}])))", "p99"),
    ]),
    ("Decisions by outcome", "ops", [
        (f"sum by (outcome, scope) (rate(meter_decisions_total[{RATE}]))", "{{outcome}} {{scope}}"),
    ]),
    ("Degraded decisions (taken without Redis)", "ops", [
        (f"sum by (metric, mode) (rate(meter_degraded_decisions_total[{RATE}]))", "{{metric}} {{mode}}"),
    ]),
    ("Errors", "ops", [
        (f"sum by (component, kind) (rate(meter_errors_total[{RATE}]))", "{{component}} {{kind}}"),
    ]),
    ("Allotments stale (1 = the last allocation failed)", "short", [
        ("max by (instance) (meter_allotments_stale)", "{{instance}}"),
        (f"sum(increase(meter_allocation_errors_total[{RATE}]))", "allocation errors"),
    ]),
    ("Mail failures per hour", "short", [
        ("sum(increase(meter_mail_failures_total[1h]))", "failed sends"),
    ]),
]


def expressions() -> list[str]:
    return [expr for _, _, targets in PANELS for expr, _ in targets]


def panel(title: str, unit: str, targets: list[tuple[str, str]]) -> timeseries.Panel:
    built = timeseries.Panel().title(title).datasource(PROMETHEUS).unit(unit).min(0).span(12).height(8)
    for i, (expr, legend) in enumerate(targets):
        built = built.with_target(prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(65 + i)).datasource(PROMETHEUS))
    return built


def build() -> dashboard.Dashboard:
    board = base("meter / Operations", "meter-operations", ["operations"]).time("now-6h", "now")
    for title, unit, targets in PANELS:
        board = board.with_panel(panel(title, unit, targets))
    return board
