"""The ClickHouse plugin's macros and Grafana's template variables, expanded as Grafana expands
them before the SQL reaches ClickHouse (DESIGN §10). Tests, the benchmark and the docs' rendering
run the panels' SQL through this, so they run what a Grafana server would send.

- ``$__timeFilter(c)`` -> ``c >= toDateTime(F) AND c <= toDateTime(T)`` (F, T: Unix seconds)
- ``$__fromTime`` / ``$__toTime`` -> ``toDateTime(F)`` / ``toDateTime(T)``
- ``$__timeInterval(c)`` -> ``toStartOfInterval(toDateTime(c), INTERVAL N second)``
- ``$__interval_s`` -> N
- ``${name:sqlstring}`` -> the value quoted, ``'`` doubled; ``${name}`` and ``$name`` -> the value
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")


@dataclass(frozen=True)
class Range:
    start: datetime
    end: datetime
    interval_s: int = 3600
    variables: dict[str, str] = field(default_factory=dict)


def _seconds(t: datetime) -> int:
    return int(t.timestamp())


def expand(sql: str, r: Range) -> str:
    f, t = _seconds(r.start), _seconds(r.end)
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)",
                 lambda m: f"{m[1]} >= toDateTime({f}) AND {m[1]} <= toDateTime({t})", sql)
    sql = re.sub(r"\$__timeInterval\(([^)]+)\)",
                 lambda m: f"toStartOfInterval(toDateTime({m[1]}), INTERVAL {r.interval_s} second)", sql)
    sql = sql.replace("$__fromTime", f"toDateTime({f})").replace("$__toTime", f"toDateTime({t})")
    sql = sql.replace("$__interval_s", str(r.interval_s))
    return _VARIABLE.sub(lambda m: _variable(m, r.variables), sql)


def _variable(m: re.Match[str], variables: dict[str, str]) -> str:
    name = m[1] or m[3]
    if name not in variables:
        raise KeyError(f"template variable ${name} has no value")
    value = variables[name]
    return "'" + value.replace("'", "''") + "'" if m[2] == "sqlstring" else value
