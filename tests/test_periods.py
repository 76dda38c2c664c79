"""Periods in the pool's time zone: month and day bounds across DST and month edges (pure)."""
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from meter.core.errors import InvalidRequest
from meter.core.periods import Period, day_of, month_of, parse_period

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 3, 15, 12, tzinfo=UTC)


def test_march_with_spring_forward_lasts_743_hours():
    p = parse_period("2026-03", PARIS, NOW)
    assert p.seconds == 743 * 3600
    assert p.start.isoformat() == "2026-03-01T00:00:00+01:00"
    assert p.reset_iso() == "2026-04-01T00:00:00+02:00"


def test_october_with_fall_back_lasts_745_hours():
    assert parse_period("2026-10", PARIS, NOW).seconds == 745 * 3600


def test_dst_days_last_23_and_25_hours():
    assert parse_period("2026-03-29", PARIS, NOW).seconds == 23 * 3600
    assert parse_period("2026-10-25", PARIS, NOW).seconds == 25 * 3600


def test_default_is_current_month_in_local_time():
    # 23:30 UTC on 31 March is already 1 April in Paris
    late = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    assert parse_period(None, PARIS, late).label == "2026-04"
    assert month_of(late, PARIS).first_day == date(2026, 4, 1)
    assert day_of(late, PARIS).label == "2026-04-01"


def test_december_rolls_into_next_year():
    p = Period("month", date(2026, 12, 1), PARIS)
    assert p.end_day == date(2027, 1, 1)
    assert p.next().label == "2027-01" and p.previous().label == "2026-11"


def test_leap_day():
    assert parse_period("2028-02-29", PARIS, NOW).label == "2028-02-29"
    assert parse_period("2028-02", PARIS, NOW).last_day == date(2028, 2, 29)


@pytest.mark.parametrize("bad", ["2026-13", "2026-02-30", "26-01", "2026/01", "2027-02-29", "now",
                                 "9999-12", "9999-12-31", "0001-01", "1969-12-31", "2149-01", 5, ["2026-04"]])
def test_bad_periods_are_named(bad):
    with pytest.raises(InvalidRequest) as err:
        parse_period(bad, PARIS, NOW)
    assert err.value.details[0]["field"] == "period"


def test_the_first_and_last_years_a_period_may_name():
    assert parse_period("1970-01", PARIS, NOW).first_day == date(1970, 1, 1)
    assert parse_period("2148-12-31", PARIS, NOW).end.year == 2149
