"""CSV import: a signatories file (a header row, then one signatory a row) into ``Registry.import_rows`` rows.

Columns, in any order: id, name, kind, population, publication, hosts, emails, joined_at, left_at,
weight; id, name and kind are required. An empty cell means "not given", so the default applies.
A hosts or emails cell holds several values separated by ';' or whitespace. Cells that read as
numbers become numbers; anything else stays text, so the body validation names the bad cell.
Rows are numbered from 1, the first row after the header; blank rows are skipped.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Any

from meter.core.errors import InvalidRequest
from meter.registry.model import FIELDS

COLUMNS = ("id", *FIELDS)
REQUIRED = ("id", "name", "kind")
LISTS = ("hosts", "emails")
MAX_ROWS = 5_000  # ~200 partners in a region; a bigger file is a mistake, not a registry
_SEPARATORS = re.compile(r"[;\s]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def decode(raw: bytes) -> str:
    """The body as text: UTF-8, with or without the byte-order mark spreadsheets write."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 (byte {exc.start}); save the file as UTF-8"
        raise InvalidRequest("the CSV is not UTF-8 text", [{"field": "body", "reason": reason}]) from None


def parse_csv(text: str) -> list[dict[str, Any]]:
    """The rows of a signatories CSV; ``InvalidRequest`` for a bad header or ragged rows."""
    records = _records(text)
    if not records:
        raise InvalidRequest("the CSV is empty", [{"field": "header", "reason": "a header row is required"}])
    header = _header(records[0])
    if len(records) - 1 > MAX_ROWS:  # one transaction holds the whole import
        raise InvalidRequest(f"a CSV import holds at most {MAX_ROWS} signatories",
                             [{"field": "body", "reason": f"{len(records) - 1} rows"}])
    rows, found = [], []
    for number, cells in enumerate((r for r in records[1:] if any(c.strip() for c in r)), start=1):
        if len(cells) != len(header):
            reason = f"has {len(cells)} cells; the header has {len(header)}"
            found.append({"row": number, "field": "row", "reason": reason})
        else:
            rows.append(_row(header, cells))
    if found:
        raise InvalidRequest(f"{len(found)} row(s) of the CSV do not match its header", found)
    return rows


def parse_csv_bytes(raw: bytes) -> list[dict[str, Any]]:
    return parse_csv(decode(raw))


def _records(text: str) -> list[list[str]]:
    try:  # strict: a stray or unclosed quote is an error, not rows silently merged
        return list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise InvalidRequest("the CSV cannot be read", [{"field": "body", "reason": str(exc)}]) from None


def _header(cells: list[str]) -> list[str]:
    names = [c.strip().lower() for c in cells]
    problems = []
    if len(names) == 1 and ";" in names[0]:
        problems.append("columns must be separated by commas (the header has a single column with ';')")
    elif unknown := [n for n in names if n not in COLUMNS]:
        problems.append(f"unknown column(s) {', '.join(map(repr, unknown))} (known: {', '.join(COLUMNS)})")
    if missing := [n for n in REQUIRED if n not in names]:
        problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
    if twice := sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"column(s) given twice: {', '.join(map(repr, twice))}")
    if problems:
        raise InvalidRequest("the CSV header is invalid: " + "; ".join(problems),
                             [{"field": "header", "reason": p} for p in problems])
    return names


def _row(header: list[str], cells: list[str]) -> dict[str, Any]:
    """Only the cells given: an empty cell lets the default apply."""
    return {name: _value(name, cell.strip()) for name, cell in zip(header, cells) if cell.strip()}


def _value(column: str, cell: str) -> Any:
    if column in LISTS:
        return [item for item in _SEPARATORS.split(cell) if item]
    if column == "population" and _INTEGER.fullmatch(cell):
        return int(cell)
    if column == "weight" and _NUMBER.fullmatch(cell):
        return float(cell)
    return cell
