"""Signatory: one partner, chosen by the ``signatory`` variable, against its allotments."""
from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import sql
from dashboards.clickhouse import CLICKHOUSE
from dashboards.common import QUERY_ON_RANGE, base, grid, percent_bars, pool_variable, series, timezone_variable


def signatory_variable() -> dashboard.QueryVariable:
    return (dashboard.QueryVariable("signatory").label("Signatory").datasource(CLICKHOUSE)
            .query(sql.SIGNATORIES).refresh(QUERY_ON_RANGE))


def build() -> dashboard.Dashboard:
    datasets = grid("Datasets: records now", sql.SIGNATORY_DATASETS).override_by_name(
        "Raw data", [dm.DynamicConfigValue("unit", "decbytes")]).override_by_name(
        "Of the per-dataset cap", [dm.DynamicConfigValue("unit", "percent")])
    return (
        base("meter / Signatory", "meter-signatory", ["signatory"])
        .with_variable(pool_variable()).with_variable(timezone_variable()).with_variable(signatory_variable())
        .with_panel(percent_bars("Each metric against its allotment", sql.METRICS_AGAINST_ALLOTMENT)
                    .span(12).height(8))
        .with_panel(series("Denials per minute", sql.SIGNATORY_DENIALS, "short", {}, bars=True).span(12).height(8))
        .with_panel(series("API calls per day against the allotment", sql.SIGNATORY_API_CALLS, "short",
                           {"Monthly allotment": "red"}).span(12).height(9))
        .with_panel(series("Update bytes per day against the daily allotment", sql.SIGNATORY_UPDATE_BYTES,
                           "decbytes", {"Daily allotment": "red"}, bars=True).span(12).height(9))
        .with_panel(grid("API calls per dataset", sql.SIGNATORY_DATASET_CALLS).span(12).height(9))
        .with_panel(datasets.span(12).height(9))
        .with_panel(grid("Catalogue compliance: metadata (article 2.6) and updates (2.2)",
                         sql.SIGNATORY_COMPLIANCE).span(24).height(9))
    )
