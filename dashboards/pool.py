"""Pool: the pool's state at a glance, for the regional admins."""
from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import sql
from dashboards.clickhouse import CLICKHOUSE
from dashboards.common import (QUERY_ON_RANGE, base, grid, markdown, percent_bars,
                               pool_variable, series, timezone_variable)

def explanation_variable() -> dashboard.QueryVariable:
    """The allocation's explanation, read by the text panel (a text panel cannot query itself)."""
    return (dashboard.QueryVariable("explanation").label("Allocation").datasource(CLICKHOUSE)
            .query(sql.EXPLANATION).refresh(QUERY_ON_RANGE).hide(dm.VariableHide.HIDE_VARIABLE))

def build() -> dashboard.Dashboard:
    top = grid("Top signatories by API calls", sql.TOP_SIGNATORIES).override_by_name(
        "Share of the pool", [dm.DynamicConfigValue("unit", "percent")])
    compliance = grid("Complete datasets per signatory (convention, article 2.6)", sql.COMPLETE_SHARE).override_by_name(
        "Complete share", [dm.DynamicConfigValue("unit", "percent")])
    return (
        base("meter / Pool", "meter-pool", ["pool"])
        .with_variable(pool_variable()).with_variable(timezone_variable()).with_variable(explanation_variable())
        .with_panel(percent_bars("Each cap: used now", sql.CAPS_USED_NOW).span(12).height(8))
        .with_panel(markdown("How the allotments came out", "${explanation}").span(12).height(8))
        .with_panel(series("API calls per day, with the month's pace", sql.API_CALLS_PER_DAY, "short",
                           {"Pace of the cap": "orange", "Monthly cap": "red"}).span(12).height(9))
        .with_panel(series("Update bytes per day against the daily cap", sql.UPDATE_BYTES_PER_DAY, "decbytes",
                           {"Daily cap": "red"}, bars=True).span(12).height(9))
        .with_panel(series("Records stock", sql.RECORDS_OVER_TIME, "short",
                           {"Records cap": "red"}).span(12).height(9))
        .with_panel(series("Stored bytes", sql.BYTES_OVER_TIME, "decbytes",
                           {"Raw data cap": "red", "Content cap": "purple"}).span(12).height(9))
        .with_panel(top.span(12).height(9))
        .with_panel(series("Denials per minute by scope", sql.DENIALS_BY_SCOPE, "short", {}, bars=True)
                    .span(12).height(9))
        .with_panel(compliance.span(12).height(9))
    )

