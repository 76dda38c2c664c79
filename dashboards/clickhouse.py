"""A query for the grafana-clickhouse-datasource plugin, which the SDK has no builder for.

The SDK accepts any ``Dataquery`` variant whose builder builds it; this one writes the keys the
plugin (v4) reads: ``editorType: sql``, ``rawSql``, ``format`` and ``queryType``.
"""
from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

PLUGIN = "grafana-clickhouse-datasource"
CLICKHOUSE = DataSourceRef(type_val=PLUGIN, uid="meter-clickhouse")
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="meter-prometheus")
Shape = Literal["table", "timeseries"]
_FORMAT = {"timeseries": 0, "table": 1}  # the plugin's Format enum


class ClickHouseQuery(cogvariants.Dataquery):
    def __init__(self, ref_id: str = "A", raw_sql: str = "", shape: Shape = "table") -> None:
        self.ref_id = ref_id
        self.raw_sql = raw_sql
        self.shape: Shape = shape

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "datasource": {"type": PLUGIN, "uid": CLICKHOUSE.uid},
                "editorType": "sql", "queryType": self.shape, "format": _FORMAT[self.shape],
                "rawSql": self.raw_sql}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        shape: Shape = "timeseries" if data.get("queryType") == "timeseries" else "table"
        return cls(data.get("refId", "A"), data.get("rawSql", ""), shape)


class ClickHouseQueryBuilder(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, raw_sql: str, shape: Shape = "table", ref_id: str = "A") -> None:
        self._internal = ClickHouseQuery(ref_id, raw_sql.strip(), shape)

    def build(self) -> ClickHouseQuery:
        return self._internal


def register() -> None:
    """Let the SDK read these queries back from JSON (dashboards loaded, compared, re-encoded)."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=PLUGIN, from_json_hook=ClickHouseQuery.from_json))


def sql(raw_sql: str, shape: Shape = "table", ref_id: str = "A") -> ClickHouseQueryBuilder:
    return ClickHouseQueryBuilder(raw_sql, shape, ref_id)
