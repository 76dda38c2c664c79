"""The checks' fast path answers as the CheckRequest model does: the same asks when it takes a
body, and it gives up (None) on every body the model refuses, so its answer names the problems."""
from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meter.config.settings import MAX_INT
from meter.contract import checks
from meter.contract.fast_checks import ask, asks
from meter.core.errors import InvalidRequest

GOOD = {"metric": "api_calls", "signatory": "loiret", "dataset": "ds-1", "amount": 3, "consume": False, "id": "c-1"}


def by_model(body):
    """The model's asks for a body, or None when it refuses it."""
    try:
        return checks.parse_checks_by_model(body)[0]
    except InvalidRequest:
        return None


def variant(field, value):
    item = copy.deepcopy(GOOD)
    if value is KeyError:
        item.pop(field)
    else:
        item[field] = value
    return item


VALID = [GOOD, {"metric": "api_calls", "signatory": "s"}, variant("dataset", None), variant("id", None),
         variant("amount", 0), variant("amount", MAX_INT), variant("consume", True), variant("signatory", "é" * 128),
         {"metric": "dataset_records", "signatory": "s", "dataset": "d"}, variant("metric", "update_bytes")]
INVALID = [variant("metric", "api_call"), variant("metric", None), variant("metric", KeyError),
           variant("signatory", ""), variant("signatory", "s" * 129), variant("signatory", KeyError),
           variant("signatory", "a\tb"), variant("amount", -1), variant("amount", MAX_INT + 1),
           variant("amount", True), variant("amount", "1"), variant("amount", None), variant("consume", 1),
           variant("consume", "true"), variant("consume", None), variant("dataset", ""), variant("dataset", "d" * 513),
           variant("dataset", "\x9f"), variant("id", ""), variant("id", "i" * 257), variant("id", 12),
           variant("host", "h"), {"metric": "dataset_records", "signatory": "s"}, [], "x", 12]
MODEL_ONLY = [variant("amount", 2.0)]  # a whole float: the model takes it, the fast path leaves it


@pytest.mark.parametrize("item", VALID)
def test_a_valid_check_takes_the_fast_path_to_the_models_asks(item):
    fast = asks([item], 1)
    assert fast is not None and fast == by_model(item) == by_model([item])
    assert checks.parse_checks([item, item]) == (fast * 2, True)


@pytest.mark.parametrize("item", INVALID)
def test_an_invalid_check_is_left_to_the_model_which_refuses_it(item):
    assert ask(item) is None and asks([GOOD, item], 10) is None
    assert by_model(item) is None and by_model([GOOD, item]) is None


@pytest.mark.parametrize("item", MODEL_ONLY)
def test_what_the_fast_path_leaves_the_model_still_takes(item):
    assert ask(item) is None and by_model(item) is not None


def test_a_batch_beyond_the_bound_or_empty_gets_the_models_answer():
    with pytest.raises(InvalidRequest):
        checks.parse_checks([GOOD] * 1001)
    with pytest.raises(InvalidRequest):
        checks.parse_checks([])


TEXTS = st.one_of(st.none(), st.text(max_size=600), st.integers(), st.booleans(), st.just(""))


@settings(max_examples=400, deadline=None)
@given(metric=st.one_of(st.sampled_from(["api_calls", "dataset_records", "records", "nope"]), TEXTS),
       signatory=TEXTS, dataset=TEXTS, check_id=TEXTS, consume=st.one_of(st.booleans(), st.integers(0, 1), st.none()),
       amount=st.one_of(st.integers(min_value=-2, max_value=MAX_INT + 2), st.floats(), st.booleans(), st.none()))
def test_on_any_check_the_fast_path_answers_as_the_model_or_not_at_all(metric, signatory, dataset, check_id,
                                                                       consume, amount):
    item = {"metric": metric, "signatory": signatory, "dataset": dataset, "id": check_id, "consume": consume,
            "amount": amount}
    fast = ask(item)
    if fast is not None:
        assert [fast] == by_model(item)
