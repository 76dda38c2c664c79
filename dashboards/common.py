"""What every dashboard shares: variables, thresholds, cap and allotment lines, panel shortcuts."""
from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard, table, text, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import text as tm

from dashboards import sql
from dashboards.clickhouse import CLICKHOUSE, ClickHouseQueryBuilder

QUERY_ON_RANGE = dm.VariableRefresh.ON_TIME_RANGE_CHANGED


def percent_thresholds() -> dashboard.ThresholdsConfig:
    """Green below 80 %, then yellow, orange, and red from 100 %: the scale of every percent."""
    steps = [dm.Threshold(None, "green"), dm.Threshold(80, "yellow"), dm.Threshold(90, "orange"),
             dm.Threshold(100, "red")]
    return dashboard.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps)


def pool_variable() -> dashboard.QueryVariable:
    return (dashboard.QueryVariable("pool").label("Pool").datasource(CLICKHOUSE).query(sql.POOLS)
            .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD))


def timezone_variable() -> dashboard.CustomVariable:
    """The pool's time zone: periods (months, days) are local, as in the service."""
    return (dashboard.CustomVariable("timezone").label("Pool time zone").values("Europe/Paris")
            .hide(dm.VariableHide.HIDE_VARIABLE))


def base(title: str, uid: str, tags: list[str]) -> dashboard.Dashboard:
    return (dashboard.Dashboard(title).uid(uid).tags(["meter", *tags]).refresh("1m")
            .time("now-30d", "now").timezone("browser").editable())


def line_override(panel: timeseries.Panel, name: str, color: str) -> timeseries.Panel:
    """Draw a limit (cap, allotment, pace) as a dashed line over the usage."""
    return panel.override_by_name(name, [
        dm.DynamicConfigValue("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
        dm.DynamicConfigValue("custom.fillOpacity", 0),
        dm.DynamicConfigValue("custom.drawStyle", "line"),
        dm.DynamicConfigValue("color", {"mode": "fixed", "fixedColor": color}),
    ])


def series(title: str, query: str, unit: str, limits: dict[str, str], bars: bool = False) -> timeseries.Panel:
    """A time series of ``query``; ``limits`` are its columns drawn as lines (name -> colour)."""
    panel = (timeseries.Panel().title(title).datasource(CLICKHOUSE)
             .with_target(ClickHouseQueryBuilder(query, "timeseries")).unit(unit).min(0).fill_opacity(20)
             .draw_style(cm.GraphDrawStyle.BARS if bars else cm.GraphDrawStyle.LINE))
    for name, color in limits.items():
        panel = line_override(panel, name, color)
    return panel


def percent_bars(title: str, query: str) -> bargauge.Panel:
    """One bar per row of ``query``, its ``percent`` column against 0-100 % with the thresholds."""
    return (bargauge.Panel().title(title).datasource(CLICKHOUSE).with_target(ClickHouseQueryBuilder(query))
            .unit("percent").min(0).max(100).thresholds(percent_thresholds())
            .display_mode(cm.BarGaugeDisplayMode.GRADIENT).orientation(cm.VizOrientation.HORIZONTAL)
            .reduce_options(ReduceDataOptions().values(True).calcs(["lastNotNull"]).fields("/^percent$/")))


def grid(title: str, query: str, unit: str = "short") -> table.Panel:
    return table.Panel().title(title).datasource(CLICKHOUSE).with_target(ClickHouseQueryBuilder(query)).unit(unit)


def markdown(title: str, content: str) -> text.Panel:
    return text.Panel().title(title).mode(tm.TextMode.MARKDOWN).content(content)
