-- Raw usage events: one row per accepted event, exactly as ingested.
-- Partitioned by the pool's local month (`day` is the local date, computed at ingestion in the
-- pool's time zone), so a month's usage reads one partition and old months drop whole.
-- ORDER BY (pool, type, signatory, day, time): every query filters on the pool and a metric (an
-- event type), then narrows to a signatory and a range of local days; time last for stock
-- snapshots read in order.
-- non_replicated_deduplication_window: the writer's insert_deduplication_token only works with
-- it on a non-replicated table; it must cover more inserts than the writer can replay.
CREATE TABLE IF NOT EXISTS {db}.events
(
    pool LowCardinality(String),
    source String,
    id String,
    type LowCardinality(String),
    time DateTime64(6, 'UTC'),
    day Date,
    signatory LowCardinality(String),
    subject String,
    dataset String,
    object String,
    kind LowCardinality(String),
    amount UInt64,
    raw_bytes UInt64,
    check_id String,
    received DateTime64(6, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (pool, type, signatory, day, time)
SETTINGS non_replicated_deduplication_window = 10000;

-- Flows summed per pool, metric, local day and signatory: a month of usage reads ~31 x signatories
-- rows instead of every event. SummingMergeTree merges rows of one key; queries still sum().
CREATE TABLE IF NOT EXISTS {db}.usage_daily
(
    pool LowCardinality(String),
    metric LowCardinality(String),
    day Date,
    signatory LowCardinality(String),
    value UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (pool, metric, day, signatory)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.usage_daily_mv TO {db}.usage_daily AS
SELECT
    pool,
    if(type = 'api.call', 'api_calls', 'update_bytes') AS metric,
    day,
    signatory,
    sum(amount) AS value
FROM {db}.events
WHERE type IN ('api.call', 'update.bytes')
GROUP BY pool, metric, day, signatory;

-- Stock snapshots: every dataset.records, dataset.deleted and content.bytes event, keyed by the
-- item it describes ('ds:' dataset or 'obj:' object). The stock at an instant is, per item, the
-- latest snapshot before it (argMax on (time, received)), summed per signatory.
CREATE TABLE IF NOT EXISTS {db}.stock_snapshots
(
    pool LowCardinality(String),
    item String,
    signatory LowCardinality(String),
    time DateTime64(6, 'UTC'),
    received DateTime64(6, 'UTC'),
    records UInt64,
    raw_bytes UInt64,
    bytes UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (pool, item, time)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.stock_snapshots_mv TO {db}.stock_snapshots AS
SELECT
    pool,
    if(type = 'content.bytes', concat('obj:', object), concat('ds:', dataset)) AS item,
    signatory,
    time,
    received,
    if(type = 'dataset.records', amount, 0) AS records,
    if(type = 'dataset.records', raw_bytes, 0) AS raw_bytes,
    if(type = 'content.bytes', amount, 0) AS bytes
FROM {db}.events
WHERE type IN ('dataset.records', 'dataset.deleted', 'content.bytes');
