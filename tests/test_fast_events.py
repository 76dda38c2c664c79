"""The api.call fast path answers as the contract's models do: the same event when it takes one,
and it gives up (None) on every event the models refuse, so their answer names the problems."""
from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from meter.config.settings import MAX_INT
from meter.contract import events as model
from meter.contract.fast_events import api_call
from meter.contract.validation import _usage, validate_events
from meter.core.errors import InvalidEvents

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
GOOD = {"specversion": "1.0", "id": "ev-1", "source": "gw", "type": "api.call", "time": "2026-12-05T10:00:00Z",
        "subject": "loiret", "data": {"dataset": "ds-1", "count": 3, "host": "h.example", "check_id": "c1"}}


def by_models(item):
    """The models' answer for one event: the UsageEvent, or None when they refuse it."""
    try:
        return _usage(model.EVENTS.validate_python([item])[0], NOW)
    except ValidationError:
        return None


def variant(path, value):
    item = copy.deepcopy(GOOD)
    where = item
    for part in path[:-1]:
        where = where[part]
    if value is KeyError:
        where.pop(path[-1], None)
    else:
        where[path[-1]] = value
    return item


VALID = [GOOD, variant(("time",), KeyError), variant(("time",), None), variant(("subject",), None),
         variant(("data", "count"), KeyError), variant(("data", "dataset"), None), variant(("data", "check_id"), None),
         variant(("time",), "2026-12-05T11:00:00.123456+01:00"), variant(("time",), "2026-12-05t10:00:00z"),
         variant(("data", "count"), MAX_INT), variant(("id",), "é" * 256), variant(("extension",), [1, {"x": 2}]),
         variant(("data", "unknown"), {"a": 1}), variant(("subject",), "s" * 128)]
INVALID = [variant(("specversion",), "1"), variant(("specversion",), 1.0), variant(("id",), ""),
           variant(("id",), "x" * 257), variant(("id",), 7), variant(("id",), KeyError), variant(("source",), "a\nb"),
           variant(("source",), "a\x85b"), variant(("subject",), ""), variant(("subject",), "s" * 129),
           variant(("subject",), ["loiret"]), variant(("data",), None), variant(("data",), [1]),
           variant(("data", "count"), 0), variant(("data", "count"), True), variant(("data", "count"), "1"),
           variant(("data", "count"), MAX_INT + 1), variant(("data", "count"), None), variant(("data", "dataset"), ""),
           variant(("data", "dataset"), "d" * 257), variant(("data", "host"), "\x7f"), variant(("data", "host"), ""),
           variant(("time",), "2026-12-05 10:00:00"), variant(("time",), 1764928800), variant(("time",), ["x"]),
           variant(("time",), "2100-01-01T00:00:00Z"), variant(("time",), "2026-13-05T10:00:00Z"),
           variant(("time",), "2026-02-30T10:00:00Z"),
           variant(("data", "check_id"), "c" * 257), variant(("type",), "api.calls")]
# the models take these, the fast path leaves them to the models (a whole float, another type)
MODELS_ONLY = [variant(("data", "count"), 2.0),
               {"specversion": "1.0", "id": "r1", "source": "gw", "type": "dataset.records", "subject": "loiret",
                "data": {"dataset": "d", "records": 1, "raw_bytes": 2}}]


@pytest.mark.parametrize("item", VALID)
def test_a_valid_api_call_takes_the_fast_path_to_the_models_answer(item):
    fast = api_call(item, NOW, {})
    assert fast is not None
    assert fast == by_models(item)


@pytest.mark.parametrize("item", INVALID)
def test_an_invalid_event_is_left_to_the_models_which_refuse_it(item):
    assert by_models(item) is None
    assert api_call(item, NOW, {}) is None


@pytest.mark.parametrize("item", MODELS_ONLY)
def test_what_the_fast_path_leaves_the_models_still_take(item):
    assert api_call(item, NOW, {}) is None
    assert by_models(item) is not None


def test_a_batch_with_one_bad_event_gets_the_models_answer_naming_it():
    with pytest.raises(InvalidEvents) as err:
        validate_events([GOOD, variant(("data", "count"), 0), GOOD], NOW, 10)
    assert [p["index"] for p in err.value.details] == [1]


def test_an_event_from_the_future_gets_the_models_answer():
    ahead = (NOW + timedelta(seconds=301)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(InvalidEvents) as err:
        validate_events([GOOD, variant(("time",), ahead)], NOW, 10)
    reason = "is more than 300 s after the service's clock"
    assert err.value.details == [{"index": 1, "field": "time", "reason": reason}]


TEXTS = st.one_of(st.none(), st.text(max_size=300), st.integers(), st.booleans(), st.floats(), st.just(""))
NUMBERS = st.one_of(st.none(), st.integers(min_value=-2, max_value=MAX_INT + 2), st.floats(), st.booleans(),
                    st.text(max_size=3))


@settings(max_examples=400, deadline=None)
@given(ev_id=TEXTS, subject=TEXTS, dataset=TEXTS, host=TEXTS, count=NUMBERS,
       time=st.one_of(st.none(), st.sampled_from(["2026-12-05T10:00:00Z", "2026-02-30T10:00:00Z", "x"]), st.text()))
def test_on_any_event_the_fast_path_answers_as_the_models_or_not_at_all(ev_id, subject, dataset, host, count, time):
    item = {"specversion": "1.0", "id": ev_id, "source": "gw", "type": "api.call", "time": time, "subject": subject,
            "data": {"dataset": dataset, "count": count, "host": host}}
    fast = api_call(item, NOW, {})
    if fast is not None:
        assert fast == by_models(item)
