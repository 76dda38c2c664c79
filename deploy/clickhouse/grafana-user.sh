#!/bin/bash
# Run once by the ClickHouse image on its first start (/docker-entrypoint-initdb.d): the read-only
# user Grafana queries as. readonly = 2 refuses every write but lets the plugin set query settings.
set -euo pipefail
clickhouse client --user default --password "$CLICKHOUSE_PASSWORD" --multiquery --query "
CREATE USER IF NOT EXISTS grafana IDENTIFIED WITH sha256_password BY '${GRAFANA_CLICKHOUSE_PASSWORD}'
    SETTINGS readonly = 2;
GRANT SELECT ON meter.* TO grafana;
"
