"""One dataset's compliance with articles 2.6 (metadata) and 2.2 (regular updates), DESIGN §12.

Pure: the dataset's ``metas`` (as the portal exports them), its last update and the time of the
check in, the findings out. Lateness: a dataset is late when now minus its last update exceeds
the maximum age of its frequency (monthly: 40 days); it is never late without a frequency that
sets a pace (as needed, not planned, irregular, unknown, an invalid or missing one) or without a
known last update.

    >>> from datetime import datetime, UTC
    >>> c = check("budget", {"default": {"title": "Budget"}, "dcat": {"accrualperiodicity": "Mensuelle"}},
    ...           datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 15, tzinfo=UTC))
    >>> c.late, c.due.date().isoformat(), len(c.missing)
    (True, '2026-10-11', 10)
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from meter.compliance.fields import FIELDS, Frequency, extract, frequency, plain_text


@dataclass(frozen=True)
class Invalid:
    field: str
    reason: str


@dataclass(frozen=True)
class DatasetCheck:
    dataset: str
    title: str | None
    missing: list[str]  # field names, in the order of FIELDS
    invalid: list[Invalid]
    frequency: str | None  # the convention's French label when valid, else the value as given
    last_update: datetime | None
    late: bool
    due: datetime | None  # last_update + the frequency's maximum age; None when never late
    max_age_days: int | None = None  # the frequency's maximum age; None: never late

    @property
    def complete(self) -> bool:
        return not self.missing and not self.invalid

    @property
    def in_order(self) -> bool:
        return self.complete and not self.late


@dataclass(frozen=True)
class Summary:
    datasets: int = 0
    complete: int = 0
    late: int = 0
    findings: list[DatasetCheck] = field(default_factory=list)  # the datasets not in order

    @property
    def in_order(self) -> bool:
        return not self.findings


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as the portal writes its dates (one without an offset, or a bare date, is
    taken as UTC); else None."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _frequency(value: Any) -> tuple[Frequency | None, str | None, Invalid | None]:
    """(the frequency, what to show for it, the problem with it) for a value that is not missing."""
    if value is None:
        return None, None, None
    if not isinstance(value, str):
        return None, str(value), Invalid("frequency", "not a text: one of the convention's 13 frequencies")
    found = frequency(plain_text(value))
    if found is None:
        return None, value, Invalid("frequency", f"{value!r} is not one of the convention's 13 frequencies")
    return found, found.label_fr, None


def check(dataset: str, metas: Mapping[str, Any], last_update: Any, now: datetime) -> DatasetCheck:
    values = extract(metas if isinstance(metas, Mapping) else {})
    missing = [f.name for f in FIELDS if values[f.name] is None]
    found, shown, problem = _frequency(values["frequency"])
    default = metas.get("default") if isinstance(metas, Mapping) else None
    if isinstance(default, Mapping):  # the event's own, else what the metas say (DESIGN §12's order)
        updated = parse_time(last_update) or parse_time(default.get("data_processed")) or parse_time(
            default.get("modified"))
    else:
        updated = parse_time(last_update)
    due = updated + timedelta(days=found.max_age_days) if found and found.max_age_days and updated else None
    title = values["title"]
    return DatasetCheck(dataset, plain_text(title) if isinstance(title, str) else None, missing,
                        [problem] if problem else [], shown, updated, due is not None and now > due, due,
                        found.max_age_days if found else None)


def summarise(checks: Iterable[DatasetCheck]) -> Summary:
    done = list(checks)
    return Summary(len(done), sum(c.complete for c in done), sum(c.late for c in done),
                   [c for c in done if not c.in_order])
