-- An event sent with a token bound to a signatory is deduplicated in that signatory's namespace
-- (DESIGN §4): the namespace is kept with the event, so a ledger rebuild restores its dedup key
-- as it was, and a bound producer's ids never shadow another producer's after a Redis loss.
ALTER TABLE {db}.events ADD COLUMN IF NOT EXISTS dedup_ns String DEFAULT '' AFTER check_keys;
