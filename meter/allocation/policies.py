"""The registry of policies by name, and which metrics are apportioned at all."""
from __future__ import annotations

from typing import get_args

from meter.allocation.base import AllocationError, Policy
from meter.allocation.elastic import Elastic
from meter.allocation.equal import Equal
from meter.allocation.max_min_fair import MaxMinFair
from meter.allocation.none import NoPolicy
from meter.allocation.reserved import Reserved
from meter.allocation.weighted import Weighted
from meter.config.settings import PolicyName
from meter.core import quotas

POLICIES: dict[str, Policy] = {p.name: p for p in (NoPolicy(), Equal(), Weighted(), Reserved(), MaxMinFair(),
                                                   Elastic())}
# the names are declared once, in the settings (PolicyName); each has its implementation here
assert set(POLICIES) == set(get_args(PolicyName)), "meter.config.settings.PolicyName and POLICIES disagree"

# a per-dataset cap is the same for everyone: sharing it makes no sense (quotas.Metric.apportioned)
APPORTIONED_METRICS = tuple(m.name for m in quotas.APPORTIONED)


def policy_named(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        raise AllocationError(f"unknown allocation policy {name!r} (known: {', '.join(POLICIES)})") from None


def is_apportioned(metric: str) -> bool:
    return metric in APPORTIONED_METRICS
