"""The convention's metadata (article 2.6) as the portal's export carries it (DESIGN §12).

Twelve fields, since the convention's "dates" are three. Each has the name the API answers with,
its French label (the report, the pages, the dashboards) and where the ODS Explore API v2.1
export keeps it: ``(template, key)`` pairs tried in order, the first one present wins. Only
``coverage`` has a second place: the DCAT template's ``spatial``, else the default template's
``territory`` (what most portals fill).

A field is missing when it is absent, null, an empty list (or a list of missing items), or a
string that is empty once HTML tags, entities and white space are removed: the portal's editor
leaves ``<p><br></p>`` in a description that was cleared.
"""
from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    name: str
    label_fr: str
    label_en: str
    places: tuple[tuple[str, str], ...]  # (template, key) in metas, first present wins


FIELDS: tuple[Field, ...] = (
    Field("title", "Titre", "Title", (("default", "title"),)),
    Field("publisher", "Organisation", "Organisation", (("default", "publisher"),)),
    Field("description", "Descriptif", "Description", (("default", "description"),)),
    Field("created", "Date de création", "Creation date", (("dcat", "created"),)),
    Field("modified", "Date de modification", "Modification date", (("default", "modified"),)),
    Field("issued", "Date de publication", "Publication date", (("dcat", "issued"),)),
    Field("license", "Licence", "Licence", (("default", "license"),)),
    Field("theme", "Thématiques", "Themes", (("default", "theme"),)),
    Field("keyword", "Mots-clés", "Keywords", (("default", "keyword"),)),
    Field("frequency", "Fréquence de mise à jour", "Update frequency", (("dcat", "accrualperiodicity"),)),
    Field("coverage", "Couverture géographique", "Geographic coverage",
          (("dcat", "spatial"), ("default", "territory"))),
    Field("granularity", "Granularité", "Granularity", (("dcat", "granularity"),)),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
LABELS_FR: dict[str, str] = {f.name: f.label_fr for f in FIELDS}
LABELS_EN: dict[str, str] = {f.name: f.label_en for f in FIELDS}

_TAG = re.compile(r"<[^>]*>")


def plain_text(value: str) -> str:
    """A string without HTML tags and entities, white space collapsed ('' for ``<p><br></p>``)."""
    return " ".join(html.unescape(_TAG.sub(" ", value)).split())


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not plain_text(value)
    if isinstance(value, list | tuple):
        return all(is_missing(item) for item in value)  # [] and ["", null] alike
    if isinstance(value, Mapping):
        return not value
    return False


def _template(metas: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    found = metas.get(name)
    return found if isinstance(found, Mapping) else {}  # ``dcat`` is often absent, or null


def value_of(metas: Mapping[str, Any], field: Field) -> Any:
    """The field's value in ``metas``: the first of its places that is not missing, else None."""
    for template, key in field.places:
        value = _template(metas, template).get(key)
        if not is_missing(value):
            return value
    return None


def extract(metas: Mapping[str, Any]) -> dict[str, Any]:
    """Every field's value (None where missing), by the answer's names."""
    return {f.name: value_of(metas, f) for f in FIELDS}


@dataclass(frozen=True)
class Frequency:
    code: str
    label_fr: str
    label_en: str
    max_age_days: int | None  # None: never late (article 2.2 sets no pace for it)


FREQUENCIES: tuple[Frequency, ...] = (
    Frequency("as_needed", "Lorsque nécessaire", "As needed", None),
    Frequency("not_planned", "Non planifiée", "Not planned", None),
    Frequency("irregular", "Irrégulière", "Irregular", None),
    Frequency("continuous", "Continue", "Continuous", 2),
    Frequency("real_time", "Temps réel", "Real time", 2),
    Frequency("daily", "Journalière", "Daily", 2),
    Frequency("weekly", "Hebdomadaire", "Weekly", 10),
    Frequency("semimonthly", "Bi-mensuelle", "Semimonthly", 20),
    Frequency("monthly", "Mensuelle", "Monthly", 40),
    Frequency("quarterly", "Trimestrielle", "Quarterly", 100),
    Frequency("semiannual", "Bi-annuelle", "Semiannual", 200),
    Frequency("annual", "Annuelle", "Annual", 400),
    Frequency("unknown", "Inconnue", "Unknown", None),
)


def folded(label: str) -> str:
    """A label compared without case, accents, spaces or hyphens: 'Temps réel' -> 'tempsreel'."""
    decomposed = unicodedata.normalize("NFKD", label)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c) and not c.isspace() and c not in "-‐‑–_")
    return kept.casefold()


_BY_FOLDED: dict[str, Frequency] = {folded(label): f for f in FREQUENCIES for label in (f.label_fr, f.label_en)}


def frequency(label: str) -> Frequency | None:
    """The convention's frequency a label names (French or English), or None."""
    return _BY_FOLDED.get(folded(label))
