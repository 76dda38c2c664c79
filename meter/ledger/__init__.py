"""The ledger: current counters, dedup markers and the stream to ClickHouse, all in Redis."""
