"""The words and number formats of reports and alerts, in French (the default) and English.

Numbers and dates go through babel: French thousands take a narrow no-break space (``1 300``),
percentages a no-break space (``80 %``), and the first of a month reads ``1er``. Metric words
are one small table (``METRIC_WORDS``), to be swapped for the project's metric table once it has
one.
"""
from __future__ import annotations

from datetime import date

from babel.dates import format_date
from babel.numbers import format_decimal

LANGS = ("fr", "en")
METRIC_WORDS: dict[str, dict[str, str]] = {
    "fr": {"api_calls": "appels API", "update_bytes": "volume de mises à jour", "records": "enregistrements",
           "raw_bytes": "volume de données", "content_bytes": "volume de fichiers",
           "dataset_records": "enregistrements par jeu de données"},
    "en": {"api_calls": "API calls", "update_bytes": "volume of updates", "records": "records",
           "raw_bytes": "volume of data", "content_bytes": "volume of files",
           "dataset_records": "records per dataset"},
}
BYTE_METRICS = ("update_bytes", "raw_bytes", "content_bytes")


class Words:
    """Formats numbers, bytes, percentages and dates for one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else "fr"
        self.locale = "fr_FR" if self.lang == "fr" else "en_GB"

    def metric(self, metric: str) -> str:
        return METRIC_WORDS[self.lang].get(metric, metric)

    def metric_title(self, metric: str) -> str:
        """The metric's words with a capital first letter (``Appels API``)."""
        text = self.metric(metric)
        return text[:1].upper() + text[1:]

    def number(self, n: int | float) -> str:
        return format_decimal(n, locale=self.locale)

    def bytes(self, n: int) -> str:
        """Bytes as GB or MB (10^9, 10^6), one decimal: what a person reads at a glance."""
        unit, size = (("Go", "GB"), 1e9) if n >= 1e9 else (("Mo", "MB"), 1e6)
        return f"{format_decimal(round(n / size, 1), format='#,##0.#', locale=self.locale)}\u00a0" \
               f"{unit[0] if self.lang == 'fr' else unit[1]}"

    def amount(self, metric: str, n: int | None) -> str:
        if n is None:
            return self.none()
        return self.bytes(n) if metric in BYTE_METRICS else self.number(n)

    def percent(self, value: float | None) -> str:
        """``value`` in percent (61.7 -> "61,7 %"), one decimal at most."""
        if value is None:
            return "–"
        text = format_decimal(round(value, 1), format="#,##0.#", locale=self.locale)
        return f"{text}\u00a0%" if self.lang == "fr" else f"{text}%"

    def none(self) -> str:
        return "aucune" if self.lang == "fr" else "none"

    def day(self, d: date) -> str:
        """``1er décembre 2026``, ``12 décembre 2026``; ``1 December 2026``."""
        if self.lang == "fr" and d.day == 1:
            return "1er " + format_date(d, "MMMM y", locale=self.locale)
        return format_date(d, "d MMMM y", locale=self.locale)

    def month(self, d: date) -> str:
        """``novembre 2026``; ``November 2026``."""
        return format_date(d, "MMMM y", locale=self.locale)
