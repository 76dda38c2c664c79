"""The registry of policies by name, and which metrics are apportioned at all."""
from __future__ import annotations

from meter.allocation.base import AllocationError, Policy
from meter.allocation.elastic import Elastic
from meter.allocation.equal import Equal
from meter.allocation.max_min_fair import MaxMinFair
from meter.allocation.none import NoPolicy
from meter.allocation.reserved import Reserved
from meter.allocation.weighted import Weighted
from meter.settings import METRICS

POLICIES: dict[str, Policy] = {p.name: p for p in (NoPolicy(), Equal(), Weighted(), Reserved(), MaxMinFair(), Elastic())}

# dataset_records is a hard cap per dataset, the same for everyone: sharing it makes no sense.
APPORTIONED_METRICS = tuple(m for m in METRICS if m != "dataset_records")


def policy_named(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise AllocationError(f"unknown allocation policy {name!r} (known: {', '.join(POLICIES)})") from None


def is_apportioned(metric: str) -> bool:
    return metric in APPORTIONED_METRICS
