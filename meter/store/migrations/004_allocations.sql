-- Every allocation computed, with its inputs: "which allotment was in force on that day, and why"
-- is the latest row of that period computed before that day. One row per computation; the
-- allotments, inputs (members, weights, active fractions, demand) and explanations are JSON.
-- ORDER BY (pool, period, computed_at): read one period's computations in order.
CREATE TABLE IF NOT EXISTS {db}.allocations
(
    pool LowCardinality(String),
    period String,
    computed_at DateTime64(6, 'UTC'),
    policy LowCardinality(String),
    trigger LowCardinality(String),
    allotments String,
    inputs String,
    explanation_en String,
    explanation_fr String
)
ENGINE = MergeTree
ORDER BY (pool, period, computed_at)
SETTINGS non_replicated_deduplication_window = 10000;
