-- Denied decisions, counted per minute, signatory, metric and scope (the decide script counts them
-- in Redis; a job moves each finished minute here). A flood of denials is a handful of rows.
-- ORDER BY (pool, minute, metric, scope, signatory): dashboards read time ranges per pool, then
-- group by metric, scope or signatory.
CREATE TABLE IF NOT EXISTS {db}.denials
(
    pool LowCardinality(String),
    minute DateTime('UTC'),
    signatory LowCardinality(String),
    metric LowCardinality(String),
    scope LowCardinality(String),
    denials UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (pool, minute, metric, scope, signatory)
SETTINGS non_replicated_deduplication_window = 10000;
