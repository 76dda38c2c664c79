-- Each dataset's metadata as the catalogue collector last saw it (DESIGN §12): one row per
-- accepted dataset.metadata event, and one row with deleted = 1 per dataset.deleted event (the
-- view below), so that "latest per dataset" is the dataset's state: a deleted dataset drops out
-- of the checks until it comes back. Readers take argMax over (time, received); the engine only
-- keeps the table small (a row of a newer time replaces the older ones at merge).
-- The checks' results that do not depend on the time of reading (missing, invalid, the frequency
-- and its maximum age) are computed at ingestion by meter/compliance so that dashboards can read
-- them in SQL; lateness is computed at reading: now - last_update > max_age_days (0 = never late).
-- ORDER BY (pool, dataset): every read is one pool's datasets, latest each.
CREATE TABLE IF NOT EXISTS {db}.dataset_metadata
(
    pool LowCardinality(String),
    dataset String,
    signatory LowCardinality(String),
    time DateTime64(6, 'UTC'),
    received DateTime64(6, 'UTC'),
    deleted UInt8 DEFAULT 0,
    title String DEFAULT '',
    missing Array(LowCardinality(String)) DEFAULT [],
    invalid Array(LowCardinality(String)) DEFAULT [],
    frequency String DEFAULT '',
    max_age_days UInt16 DEFAULT 0,
    last_update Nullable(DateTime64(6, 'UTC')),
    metas String DEFAULT '{}'
)
ENGINE = ReplacingMergeTree(time)
ORDER BY (pool, dataset)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.dataset_metadata_deleted_mv TO {db}.dataset_metadata AS
SELECT pool, dataset, signatory, time, received, toUInt8(1) AS deleted
FROM {db}.events
WHERE type = 'dataset.deleted';
