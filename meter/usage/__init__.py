"""Usage reads: a period's totals per signatory and for the pool, from ClickHouse."""
