"""ClickHouse: the history. One seam (``ClickHouseStore``) over chDB or a server, SQL in ``queries``."""
