-- The registry's history: every change to a signatory, with the token that made it. Redis holds
-- the current registry; this table answers "who was a member when" and rebuilds Redis if lost.
CREATE TABLE IF NOT EXISTS {db}.signatory_changes
(
    pool LowCardinality(String),
    id String,
    at DateTime64(6, 'UTC'),
    action LowCardinality(String),
    changed_by String,
    record String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (pool, id, at)
SETTINGS non_replicated_deduplication_window = 10000;
