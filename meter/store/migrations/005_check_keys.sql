-- Consumed checks are history rows that sum a batch of checks; the checks sent with an `id`
-- leave here their dedup digest and their request's fingerprint ("digest:fingerprint"), so a
-- ledger rebuild after a Redis loss restores them and an `api.call` event naming such a check
-- (or a retry of it) still counts once.
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS check_keys Array(String) DEFAULT [] AFTER check_id;
