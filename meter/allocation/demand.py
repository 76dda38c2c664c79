"""Demand for ``max_min_fair``: a forecast from recent history, and explicit overrides.

The model: **the mean of the last 3 comparable periods, plus a 10 % margin, rounded up**, with
a floor of a tenth of an average signatory's forecast. Why:

- *Mean of the last 3, not the same month last year.* A year-over-year seasonal model needs a
  year of history per signatory, which a newly metered pool (and every newcomer) lacks, and a
  portal's partners change level (a new app, a new dataset, a scraper) far more than the
  calendar moves them. Three months follow such a change within a quarter, and a one-month
  burst only counts for a third.
- *A 10 % margin.* Max-min gives nobody more than its forecast, so an under-forecast is denied
  calls; month-to-month noise of a partner's API use is of that order (and a 28-day February
  against a 31-day month is 10 % too). Over-forecasting costs less: what a member does not
  use is only idle, and the water level of the others is what moves.
- *A floor.* A signatory that was quiet (zero usage) would be forecast 0 and then denied its
  first call. The floor, a tenth of the mean forecast of those with history, scales with the
  metric (calls, bytes, records) without a per-metric constant.
- *Newcomers are left out.* A signatory with no history gets no forecast, which max_min_fair
  reads as unbounded: it gets the common water level x its weight, that is a fair share of
  what the others do not need, neither starved nor able to take what others are forecast.

History is usage **plus denied calls** (the meter records denials), newest last: usage alone
is censored by the allotment and would only ever shrink a forecast. A partial period (joined or
left mid-month) should be divided by its active fraction before it comes here. Pure: the
caller reads the history (ClickHouse) and passes it in.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

from meter.allocation.base import AllocationError

WINDOW = 3
MARGIN = Fraction(11, 10)
FLOOR_SHARE = Fraction(1, 10)


def forecast(history: Mapping[str, Sequence[int]], window: int = WINDOW) -> dict[str, int]:
    """Per signatory with history: ceil(mean(last ``window``) x 1.1), at least the floor."""
    raw = {sid: _mean_with_margin(sid, values[-window:]) for sid, values in history.items() if values}
    if not raw:
        return {}
    floor = math.ceil(FLOOR_SHARE * sum(raw.values(), Fraction(0)) / len(raw))
    return {sid: max(math.ceil(value), floor) for sid, value in raw.items()}


def _mean_with_margin(sid: str, values: Sequence[int]) -> Fraction:
    if not all(_is_count(v) for v in values):
        raise AllocationError(f"the usage history of signatory {sid!r} must be integers >= 0: {list(values)}",
                              [{"field": "history", "signatory": sid, "reason": "usage must be integers >= 0"}])
    return MARGIN * Fraction(sum(values), len(values))


def with_overrides(forecast: Mapping[str, int], overrides: Mapping[str, int | None]) -> dict[str, int | None]:
    """The forecast with an admin's explicit demands on top; an override of None means unbounded."""
    bad = sorted(sid for sid, v in overrides.items() if v is not None and not _is_count(v))
    if bad:
        raise AllocationError(f"demand overrides must be integers >= 0 (or none): {', '.join(bad)}",
                              [{"field": "allocation.demand", "signatory": sid,
                                "reason": "demand must be an integer >= 0"} for sid in bad])
    return {**forecast, **overrides}


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
