"""The blocks a report is made of, whatever its format: sections, with paragraphs, a table, a chart."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    left: int = 1  # the first ``left`` columns are words (aligned left); the others are numbers


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    table: Table | None = None
    chart: bool = False
    items: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)  # sentences below the table or chart
