"""The metric table: the contract's six metrics, and the rest of the service reading from it."""
import pytest

from meter.allocation.explain import METRIC_LABELS
from meter.allocation.policies import APPORTIONED_METRICS
from meter.allocation.service import DAY_METRICS, MONTH_METRICS
from meter.config.settings import CapsSection, PoolConfig
from meter.core import quotas
from meter.core.periods import FLOW_PERIOD
from meter.jobs.reconcile import POOLED_STOCKS
from meter.store.history import StockTotal


def test_the_six_metrics_of_the_contract_in_order():
    assert quotas.NAMES == ("api_calls", "update_bytes", "records", "raw_bytes", "content_bytes", "dataset_records")
    assert [(m.name, m.kind, m.period) for m in quotas.FLOWS] == [("api_calls", "flow", "month"),
                                                                   ("update_bytes", "flow", "day")]
    assert all(m.period is None for m in quotas.STOCKS)
    assert [m.name for m in quotas.METRICS if m.per_dataset] == ["dataset_records"]


def test_every_metric_has_words_in_both_languages():
    for m in quotas.METRICS:
        assert m.label("en") and m.label("fr") and m.noun("en") and m.noun("fr")
        assert m.label("en") != m.label("fr")


def test_settings_periods_and_allocation_derive_from_the_table():
    assert tuple(CapsSection.model_fields) == quotas.NAMES
    assert CapsSection().get("raw_bytes") == quotas.metric("raw_bytes").default_cap
    assert FLOW_PERIOD == {"api_calls": "month", "update_bytes": "day"}
    assert APPORTIONED_METRICS == ("api_calls", "update_bytes", "records", "raw_bytes", "content_bytes")
    assert MONTH_METRICS == ("api_calls", "records", "raw_bytes", "content_bytes") and DAY_METRICS == ("update_bytes",)
    assert POOLED_STOCKS == ("records", "raw_bytes", "content_bytes")
    assert set(METRIC_LABELS["fr"]) == set(quotas.NAMES)
    assert set(quotas.STOCK_NAMES) <= set(StockTotal._fields)  # usage reads each stock by its name
    assert quotas.FLOW_BY_EVENT == {"api.call": "api_calls", "update.bytes": "update_bytes"}


def test_fail_mode_default_comes_from_the_table():
    enforcement = PoolConfig().enforcement
    assert enforcement.fail_mode("api_calls") == "fail_open"
    assert enforcement.fail_mode("update_bytes") == "fail_closed"


def test_an_unknown_metric_is_refused_by_name():
    with pytest.raises(KeyError):
        quotas.metric("page_views")
    assert not quotas.is_flow("page_views") and not quotas.is_flow("records")
