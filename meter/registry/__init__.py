"""The signatory registry: current members in Redis, every change kept in ClickHouse."""
