"""Every query of the generated dashboards, read back from their JSON: what tests, the benchmark and
the docs' rendering run. Reading the JSON (not the Python) proves what Grafana will receive."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSON_DIR = Path(__file__).resolve().parent / "json"
NAMES = ("pool", "signatory", "operations")


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    title: str
    ref_id: str
    kind: str  # "clickhouse", "prometheus", or "variable" (a ClickHouse variable's query)
    text: str


def load(name: str) -> dict[str, Any]:
    return json.loads((JSON_DIR / f"{name}.json").read_text(encoding="utf-8"))


def queries(name: str) -> list[PanelQuery]:
    board = load(name)
    found = [PanelQuery(name, f"variable {v['name']}", "-", "variable", v["query"])
             for v in board.get("templating", {}).get("list", []) if v.get("type") == "query"]
    for panel in board.get("panels", []):
        for target in panel.get("targets", []):
            if "rawSql" in target:
                found.append(PanelQuery(name, panel["title"], target["refId"], "clickhouse", target["rawSql"]))
            elif "expr" in target:
                found.append(PanelQuery(name, panel["title"], target["refId"], "prometheus", target["expr"]))
    return found


def all_queries() -> list[PanelQuery]:
    return [q for name in NAMES for q in queries(name)]
