"""The convention's metadata and update checks (DESIGN §12), as tables, on the export's real shapes."""
from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from meter.compliance.checks import check, parse_time, summarise
from meter.compliance.fields import FIELD_NAMES, FREQUENCIES, LABELS_FR, extract, folded, frequency, is_missing

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)

# One dataset as the ODS Explore API v2.1 catalogue export gives it (trimmed to the parts read;
# names, HTML description, list-valued theme / keyword / territory and a DCAT template as a
# regional portal fills them).
COMPLETE: dict[str, Any] = {
    "default": {
        "title": "Équipements sportifs de la commune",
        "description": "<p>Liste des <b>équipements sportifs</b> gérés par la commune.</p>",
        "theme": ["Sport, loisirs"],
        "keyword": ["sport", "équipement"],
        "license": "Licence Ouverte v2.0 (Etalab)",
        "language": "fr",
        "modified": "2026-11-02T08:15:00+00:00",
        "data_processed": "2026-11-02T08:16:41.120000+00:00",
        "metadata_processed": "2026-11-02T08:16:43+00:00",
        "territory": ["Vierzon"],
        "publisher": "Ville de Vierzon",
        "records_count": 212,
        "federated": False,
    },
    "dcat": {
        "created": "2019-03-01T00:00:00+00:00",
        "issued": "2019-03-04T00:00:00+00:00",
        "accrualperiodicity": "Mensuelle",
        "spatial": "Commune de Vierzon",
        "granularity": "Équipement",
        "contact_email": None,
    },
    "processing": {"records_size": 48211},
}


def metas(**changes: Any) -> dict[str, Any]:
    """COMPLETE with ``template__key=value`` changes (``...=DROP`` removes the key)."""
    out = copy.deepcopy(COMPLETE)
    for name, value in changes.items():
        template, key = name.split("__")
        if value is DROP:
            out[template].pop(key, None)
        else:
            out[template][key] = value
    return out


DROP = object()


def test_a_complete_dataset_has_nothing_missing_and_is_not_late():
    c = check("equipements", COMPLETE, "2026-11-02T08:16:41+00:00", NOW)
    assert (c.missing, c.invalid, c.late, c.complete) == ([], [], False, True)
    assert c.title == "Équipements sportifs de la commune"
    assert c.frequency == "Mensuelle"
    assert c.due == datetime(2026, 12, 12, 8, 16, 41, tzinfo=UTC)


def test_the_twelve_fields_in_the_convention_order_with_french_labels():
    assert FIELD_NAMES == ("title", "publisher", "description", "created", "modified", "issued", "license",
                           "theme", "keyword", "frequency", "coverage", "granularity")
    assert LABELS_FR["frequency"] == "Fréquence de mise à jour" and LABELS_FR["coverage"] == "Couverture géographique"


@pytest.mark.parametrize("change, missing", [
    ({"default__title": DROP}, ["title"]),
    ({"default__title": None}, ["title"]),
    ({"default__title": "   "}, ["title"]),
    ({"default__publisher": ""}, ["publisher"]),
    # the portal's editor leaves markup behind when a description is cleared
    ({"default__description": "<p><br></p>"}, ["description"]),
    ({"default__description": "<p>&nbsp;</p>\n<div> </div>"}, ["description"]),
    ({"default__description": "<p>0</p>"}, []),  # a single character is a description
    ({"default__theme": []}, ["theme"]),
    ({"default__theme": None}, ["theme"]),
    ({"default__keyword": [""]}, ["keyword"]),
    ({"default__keyword": ["", "sport"]}, []),
    ({"default__license": DROP}, ["license"]),
    ({"default__modified": None}, ["modified"]),
    ({"dcat__created": None}, ["created"]),
    ({"dcat__issued": DROP}, ["issued"]),
    ({"dcat__granularity": None}, ["granularity"]),
    ({"dcat__accrualperiodicity": None}, ["frequency"]),
    # coverage: dcat.spatial, else default.territory
    ({"dcat__spatial": None}, []),
    ({"dcat__spatial": None, "default__territory": []}, ["coverage"]),
    ({"dcat__spatial": "", "default__territory": DROP}, ["coverage"]),
    ({"dcat__spatial": "Cher", "default__territory": []}, []),
], ids=lambda v: repr(v)[:60])
def test_what_counts_as_missing(change, missing):
    c = check("d", metas(**change), None, NOW)
    assert c.missing == missing
    assert c.complete is (not missing)


def test_an_export_without_the_dcat_template():
    """Portals that never enabled DCAT export no ``metas.dcat`` at all: its five fields are missing,
    and the coverage comes from ``territory``."""
    m = copy.deepcopy(COMPLETE)
    del m["dcat"]
    c = check("d", m, None, NOW)
    assert c.missing == ["created", "issued", "frequency", "granularity"]
    assert extract(m)["coverage"] == ["Vierzon"]
    assert (c.frequency, c.late, c.due) == (None, False, None)


@pytest.mark.parametrize("bad", [{"dcat": None}, {"default": None}, {}, {"default": "x", "dcat": []}])
def test_templates_that_are_null_or_not_objects_count_as_absent(bad):
    c = check("d", bad, None, NOW)
    assert c.missing == list(FIELD_NAMES)
    assert c.title is None and not c.late


def test_title_is_shown_as_plain_text():
    assert check("d", metas(default__title="<b>Budget</b>&nbsp;2026"), None, NOW).title == "Budget 2026"


@pytest.mark.parametrize("label, code", [
    ("Lorsque nécessaire", "as_needed"), ("lorsque necessaire", "as_needed"), ("As needed", "as_needed"),
    ("Non planifiée", "not_planned"), ("NON-PLANIFIEE", "not_planned"), ("Not planned", "not_planned"),
    ("Irrégulière", "irregular"), ("Irregular", "irregular"),
    ("Continue", "continuous"), ("Continuous", "continuous"),
    ("Temps réel", "real_time"), ("temps-reel", "real_time"), ("Real time", "real_time"), ("real-time", "real_time"),
    ("Journalière", "daily"), ("JOURNALIERE", "daily"), ("Daily", "daily"),
    ("Hebdomadaire", "weekly"), ("Weekly", "weekly"),
    ("Bi-mensuelle", "semimonthly"), ("bimensuelle", "semimonthly"), ("Bi mensuelle", "semimonthly"),
    ("Semimonthly", "semimonthly"), ("Semi-monthly", "semimonthly"),
    ("Mensuelle", "monthly"), (" mensuelle ", "monthly"), ("Monthly", "monthly"),
    ("Trimestrielle", "quarterly"), ("Quarterly", "quarterly"),
    ("Bi-annuelle", "semiannual"), ("Semiannual", "semiannual"), ("semi-annual", "semiannual"),
    ("Annuelle", "annual"), ("Annual", "annual"),
    ("Inconnue", "unknown"), ("Unknown", "unknown"),
])
def test_the_thirteen_frequencies_in_french_and_english(label, code):
    found = frequency(label)
    assert found is not None and found.code == code


def test_there_are_thirteen_frequencies_with_distinct_labels():
    assert len(FREQUENCIES) == 13
    assert len({folded(f.label_fr) for f in FREQUENCIES} | {folded(f.label_en) for f in FREQUENCIES}) == 26


@pytest.mark.parametrize("value", ["Quotidienne", "Tous les mois", "monthlyy", "Annuel", "1"])
def test_another_frequency_is_invalid(value):
    c = check("d", metas(dcat__accrualperiodicity=value), "2020-01-01T00:00:00+00:00", NOW)
    assert c.missing == []
    assert [(i.field, value in i.reason) for i in c.invalid] == [("frequency", True)]
    assert c.frequency == value
    assert not c.complete
    assert not c.late  # no valid frequency: no pace to be late against


def test_a_frequency_that_is_not_text_is_invalid():
    c = check("d", metas(dcat__accrualperiodicity=["Mensuelle"]), None, NOW)
    assert [i.field for i in c.invalid] == ["frequency"]


@pytest.mark.parametrize("label, days", [
    ("Temps réel", 2), ("Continue", 2), ("Journalière", 2), ("Hebdomadaire", 10), ("Bi-mensuelle", 20),
    ("Mensuelle", 40), ("Trimestrielle", 100), ("Bi-annuelle", 200), ("Annuelle", 400),
])
def test_late_once_the_frequency_s_maximum_age_is_exceeded(label, days):
    updated = NOW - timedelta(days=days)
    m = metas(dcat__accrualperiodicity=label)
    on_time = check("d", m, updated.isoformat(), NOW)
    assert (on_time.late, on_time.due) == (False, NOW)  # exactly the maximum age: not yet
    late = check("d", m, (updated - timedelta(seconds=1)).isoformat(), NOW)
    assert late.late and late.due == NOW - timedelta(seconds=1)
    assert late.complete  # late is not incomplete


@pytest.mark.parametrize("label", ["Lorsque nécessaire", "Non planifiée", "Irrégulière", "Inconnue"])
def test_frequencies_without_a_pace_are_never_late(label):
    c = check("d", metas(dcat__accrualperiodicity=label), "2001-01-01T00:00:00Z", NOW)
    assert (c.late, c.due) == (False, None)


def test_last_update_falls_back_to_data_processed_then_modified():
    m = metas(dcat__accrualperiodicity="Journalière")
    assert check("d", m, None, NOW).last_update == datetime(2026, 11, 2, 8, 16, 41, 120000, tzinfo=UTC)
    m["default"].pop("data_processed")
    assert check("d", m, None, NOW).last_update == datetime(2026, 11, 2, 8, 15, tzinfo=UTC)
    m["default"].pop("modified")
    c = check("d", m, None, NOW)
    assert (c.last_update, c.late) == (None, False)


@pytest.mark.parametrize("value, expected", [
    ("2026-11-02T08:16:41+00:00", datetime(2026, 11, 2, 8, 16, 41, tzinfo=UTC)),
    ("2026-11-02T09:16:41+01:00", datetime(2026, 11, 2, 8, 16, 41, tzinfo=UTC)),
    ("2026-11-02T08:16:41Z", datetime(2026, 11, 2, 8, 16, 41, tzinfo=UTC)),
    ("2026-11-02", datetime(2026, 11, 2, tzinfo=UTC)),
    ("le 2 novembre", None), ("", None), (None, None), (12, None),
])
def test_times_as_the_portal_writes_them(value, expected):
    assert parse_time(value) == expected


def test_is_missing_on_other_values():
    assert not is_missing(0) and not is_missing(False) and not is_missing({"a": 1})
    assert is_missing({}) and is_missing(()) and is_missing([None, "<br>"])


def test_summary_counts_complete_and_late_and_keeps_only_findings():
    ok = check("ok", COMPLETE, NOW.isoformat(), NOW)
    incomplete = check("inc", metas(default__keyword=[]), NOW.isoformat(), NOW)
    late = check("late", COMPLETE, "2020-01-01T00:00:00Z", NOW)
    s = summarise([ok, incomplete, late])
    assert (s.datasets, s.complete, s.late) == (3, 2, 1)
    assert [c.dataset for c in s.findings] == ["inc", "late"]
    assert not s.in_order and summarise([ok]).in_order
    assert summarise([]).datasets == 0
