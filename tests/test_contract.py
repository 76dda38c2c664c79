"""The contract's models: what their schemas state is what they enforce (pure)."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError

from meter.contract.fields import Int
from meter.contract.requests import PERIOD, CheckRequest
from meter.core.errors import InvalidRequest
from meter.core.periods import parse_period

NOW = datetime(2026, 11, 29, tzinfo=UTC)
TZ = ZoneInfo("Europe/Paris")


def accepted(text: str) -> bool:
    try:
        parse_period(text, TZ, NOW)
        return True
    except InvalidRequest:
        return False


def test_the_period_pattern_is_exactly_what_parse_period_accepts():
    day, samples = date(1968, 1, 1), ["2026-13", "2026-00", "2026-1", "26-01", "2149-01", "1969-12", "2026-02-30"]
    while day < date(2150, 1, 1):  # every calendar day, and every month, of the range and around it
        samples += [day.isoformat(), day.isoformat()[:7]]
        day += timedelta(days=1)
    pattern = re.compile(PERIOD)
    wrong = [t for t in samples if bool(pattern.match(t)) != accepted(t)]
    assert not wrong, wrong[:10]


@pytest.mark.parametrize("value, ok", [(12, True), (12.0, True), (12.5, False), (2.5e-42, False), (True, False),
                                       ("12", False),
                                       (-1, False), (2**53, False), (float("inf"), False)])
def test_an_integer_field_takes_what_json_schema_calls_an_integer(value, ok):
    adapter = TypeAdapter(Int(0))
    if ok:
        assert adapter.validate_python(value) == value
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


def test_dataset_records_needs_its_dataset_in_the_schema_and_the_model():
    rule = CheckRequest.model_json_schema()["anyOf"]
    assert {"required": ["dataset"], "properties": {"dataset": {"type": "string"}}} in rule
    with pytest.raises(ValidationError):
        CheckRequest.model_validate({"signatory": "a", "metric": "dataset_records", "dataset": None})
    assert CheckRequest.model_validate({"signatory": "a", "metric": "dataset_records", "dataset": "d"}).dataset == "d"


@pytest.mark.parametrize("amount, reason", [(1.5, "must be an integer"), (True, "must be an integer"),
                                            (-1, "greater than or equal to 0")])
def test_an_integer_field_names_one_problem_in_plain_words(amount, reason):
    from meter.contract.checks import parse_checks
    with pytest.raises(InvalidRequest) as err:
        parse_checks([{"signatory": "a", "metric": "api_calls", "amount": amount}])
    [problem] = err.value.details
    assert problem["index"] == 0 and problem["field"] == "amount" and reason in problem["reason"]
