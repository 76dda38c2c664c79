"""Monthly reports: figures from ClickHouse and the stored allocation, rendered for partners."""
