"""The committed dashboard JSON is what the code builds, and keeps §10's rules: no database, pool,
cap or allotment written into SQL; units, thresholds and limit lines where the panels need them."""
from __future__ import annotations

import re

from dashboards import catalogue, generate, operations

SQL = [q for q in catalogue.all_queries() if q.kind != "prometheus"]


def test_committed_json_is_fresh():
    assert generate.stale() == [], "dashboards/json is stale: run `make dashboards` and commit the result"


def test_three_dashboards_with_their_variables():
    variables = {name: [v["name"] for v in catalogue.load(name)["templating"].get("list", [])]
                 for name in catalogue.NAMES}
    assert "pool" in variables["pool"] and "explanation" in variables["pool"]
    assert {"pool", "signatory"} <= set(variables["signatory"])
    assert {q.kind for q in catalogue.queries("operations")} == {"prometheus"}
    assert [q.text for q in catalogue.queries("operations")] == operations.expressions()


def test_sql_names_no_database_pool_or_number_of_quota():
    for q in SQL:
        assert not re.search(r"\b(meter|default)\.\w+", q.text), q.title
        assert not re.search(r"pool\s*=\s*'", q.text), q.title  # the pool is always ${pool}
        # a number of 1000 or more could only be a cap or an allotment written in
        assert not re.search(r"(?<![\w$.])\d{4,}\b", q.text), (q.title, re.findall(r"\d{4,}", q.text))


def test_panels_have_units_thresholds_and_limit_lines():
    panels = {p["title"]: p for name in ("pool", "signatory") for p in catalogue.load(name)["panels"]}
    for title in ("Each cap: used now", "Each metric against its allotment"):
        defaults = panels[title]["fieldConfig"]["defaults"]
        assert defaults["unit"] == "percent"
        assert [s["value"] for s in defaults["thresholds"]["steps"]] == [None, 80, 90, 100]
    assert panels["Update bytes per day against the daily cap"]["fieldConfig"]["defaults"]["unit"] == "decbytes"
    lines = {title: {o["matcher"]["options"] for o in p["fieldConfig"]["overrides"]
                     if any(prop["id"] == "custom.lineStyle" for prop in o["properties"])}
             for title, p in panels.items()}
    assert lines["API calls per day, with the month's pace"] == {"Pace of the cap", "Monthly cap"}
    assert lines["API calls per day against the allotment"] == {"Monthly allotment"}
    assert lines["Update bytes per day against the daily allotment"] == {"Daily allotment"}
    assert "${explanation}" in panels["How the allotments came out"]["options"]["content"]


def test_every_target_names_its_data_source():
    for name in catalogue.NAMES:
        for panel in catalogue.load(name)["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] in ("meter-clickhouse", "meter-prometheus"), panel["title"]


def test_mypy_finds_no_issue_in_the_dashboards_code():
    import subprocess
    import sys

    from tests.service import ROOT

    done = subprocess.run([sys.executable, "-m", "mypy", "dashboards"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
