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

-- API calls per local day, signatory and dataset: the Signatory dashboard's "per dataset" panel
-- reads ~days x datasets rows instead of a heavy partner's every event (measured: 645 ms for a
-- year of 3.4 M events on the raw table; bench/dashboards.py). Filled from here on by the view,
-- and once from the events already stored.
CREATE TABLE IF NOT EXISTS {db}.api_calls_by_dataset
(
    pool LowCardinality(String),
    day Date,
    signatory LowCardinality(String),
    dataset String,
    calls UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (pool, signatory, day, dataset)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.api_calls_by_dataset_mv TO {db}.api_calls_by_dataset AS
SELECT pool, day, signatory, dataset, sum(amount) AS calls
FROM {db}.events
WHERE type = 'api.call'
GROUP BY pool, day, signatory, dataset;

INSERT INTO {db}.api_calls_by_dataset
SELECT pool, day, signatory, dataset, sum(amount) FROM {db}.events WHERE type = 'api.call'
GROUP BY pool, day, signatory, dataset;
