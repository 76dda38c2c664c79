"""Prometheus metrics: every one defined here, on a registry of the app's own (tests make fresh ones).

No label takes unbounded values: never a signatory, dataset or event id.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_FAST = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_SLOW = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Telemetry:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.events_ingested = Counter("meter_events_ingested_total", "Events accepted and counted", registry=r)
        self.events_duplicate = Counter("meter_events_duplicate_total", "Events received again and ignored", registry=r)
        self.events_rejected = Counter("meter_events_rejected_total", "Events in batches refused as invalid",
                                       registry=r)
        self.events_unattributed = Counter(
            "meter_events_unattributed_total", "Accepted events whose subject names no registered signatory",
            registry=r)
        self.stream_lag = Gauge("meter_stream_lag_events", "Events in the Redis stream not yet in ClickHouse",
                                registry=r)
        self.rows_written = Counter("meter_rows_written_total", "Rows inserted into ClickHouse by the writer",
                                    ["table"], registry=r)
        self.insert_seconds = Histogram("meter_insert_duration_seconds", "Latency of one ClickHouse insert",
                                        buckets=_SLOW, registry=r)
        self.errors = Counter("meter_errors_total", "Errors by component and kind", ["component", "kind"],
                              registry=r)
        self.decisions = Counter("meter_decisions_total", "Quota decisions", ["metric", "outcome", "scope"],
                                 registry=r)
        self.decision_seconds = Histogram("meter_decision_duration_seconds", "Latency of one decision call",
                                          buckets=_FAST, registry=r)
        self.decision_batch = Histogram("meter_decision_batch_size", "Decisions carried by one Redis script call",
                                        buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r)
        self.degraded = Counter("meter_degraded_decisions_total", "Decisions taken without Redis, by fail mode",
                                ["metric", "mode"], registry=r)
        self.ledger_drift = Gauge("meter_ledger_drift", "Redis counter minus ClickHouse history, last reconciliation",
                                  ["metric"], registry=r)
        self.ledger_rebuilds = Counter("meter_ledger_rebuilds_total", "Ledger rebuilds from ClickHouse", registry=r)
        self.allocation_errors = Counter("meter_allocation_errors_total", "Allocation computations that failed",
                                         registry=r)
        self.allotments_stale = Gauge("meter_allotments_stale",
                                      "1 when the allotments in force could not be recomputed, else 0", registry=r)
        # reports and alerts (meter/reports, meter/alerts, meter/mail)
        self.alerts_fired = Counter("meter_alerts_fired_total", "Quota alerts fired (each once per key)",
                                    ["type", "scope"], registry=r)
        self.reports_sent = Counter("meter_reports_sent_total", "Monthly reports delivered to the mail server",
                                    registry=r)
        self.mail_failures = Counter("meter_mail_failures_total", "Failed delivery attempts (retried with backoff)",
                                     ["channel"], registry=r)
        for channel in ("email", "webhook"):  # exported at 0 from the start, so rate() and alerts see them
            self.mail_failures.labels(channel)
        # limits and trust (DESIGN §4): clients' doing, never an internal error
        self.http_aborted = Counter("meter_http_aborted_total",
                                    "Requests whose client hung up before its body was received", registry=r)
        self.body_timeouts = Counter("meter_http_body_timeouts_total",
                                     "Requests answered 408: the body was not received in full in time", registry=r)
        self.stock_refused = Counter("meter_stock_refused_total",
                                     "Snapshots refused: the pool's bound on distinct datasets or objects",
                                     ["kind"], registry=r)
        for kind in ("dataset", "object"):
            self.stock_refused.labels(kind)
        self.stock_transfers = Counter("meter_stock_transfers_total",
                                       "Datasets and objects whose owner a snapshot changed (a transfer)", registry=r)
