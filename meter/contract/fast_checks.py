"""The common case of ``parse_checks`` without a model per check: valid checks.

A gateway's batch is up to a thousand checks, nearly always valid. This module reads each one
straight from the decoded JSON into an ``Ask``, checking the same rules as ``CheckRequest``
(``meter.contract.requests``), and gives up (``None``) at any doubt: an unknown field, a whole
float, a wrong type. A body it gives up on is validated by the model, which names every problem:
the answers are the model's (``tests/test_fast_checks.py`` holds the two paths equal).
"""
from __future__ import annotations

from typing import Any

from meter.config.settings import MAX_INT, METRICS
from meter.contract.fast_events import CONTROL
from meter.contract.fields import MAX_ID, MAX_NAME, MAX_SUBJECT
from meter.decision.model import Ask

FIELDS = frozenset({"metric", "dataset", "signatory", "amount", "consume", "id"})  # CheckRequest's, and no other
_METRICS = frozenset(METRICS)
PER_DATASET = "dataset_records"  # a per-dataset cap: its checks name their dataset


def ask(item: Any) -> Ask | None:
    """A valid check as an ``Ask``, or None: the model must look at it."""
    if type(item) is not dict or not FIELDS.issuperset(item):
        return None
    metric, signatory, dataset = item.get("metric"), item.get("signatory"), item.get("dataset")
    amount, consume, check_id = item.get("amount", 1), item.get("consume", True), item.get("id")
    if (type(metric) is not str or metric not in _METRICS or type(signatory) is not str
            or not 0 < len(signatory) <= MAX_SUBJECT or type(amount) is not int or not 0 <= amount <= MAX_INT
            or type(consume) is not bool):
        return None
    if dataset is None:
        if metric == PER_DATASET:
            return None
        dataset = ""
    elif type(dataset) is not str or not 0 < len(dataset) <= MAX_NAME:
        return None
    if check_id is None:
        check_id = ""
    elif type(check_id) is not str or not 0 < len(check_id) <= MAX_ID:
        return None
    if CONTROL.search(f"{signatory}{dataset}{check_id}"):
        return None
    return Ask(metric, amount, signatory, "", dataset, consume, check_id)


def asks(items: list[Any], most: int) -> list[Ask] | None:
    """Every item through ``ask`` (between 1 and ``most`` of them); else None."""
    if not 0 < len(items) <= most:
        return None
    out = []
    for item in items:
        parsed = ask(item)
        if parsed is None:
            return None
        out.append(parsed)
    return out
