-- The pool's caps in force, one row per metric each time the service starts with caps that differ
-- from the last recorded ones: "which cap held at time t" is the latest row at or before t.
-- Dashboards draw caps from here, so no cap is ever written into a panel.
-- ORDER BY (pool, metric, effective_at): read one metric's history in order.
CREATE TABLE IF NOT EXISTS {db}.caps
(
    pool LowCardinality(String),
    metric LowCardinality(String),
    effective_at DateTime64(6, 'UTC'),
    cap UInt64
)
ENGINE = MergeTree
ORDER BY (pool, metric, effective_at)
SETTINGS non_replicated_deduplication_window = 10000;
