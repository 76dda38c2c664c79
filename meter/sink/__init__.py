"""The sink: the writer that copies the Redis stream into ClickHouse, exactly once."""
