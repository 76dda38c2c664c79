"""The words and number formats of reports and alerts, in French (the default) and English.

Numbers and dates go through babel: French thousands take a narrow no-break space (``1 300``),
percentages a no-break space (``80 %``), and the first of a month reads ``1er``. Metric words
are one small table (``METRIC_WORDS``), to be swapped for the project's metric table once it has
one.
"""
from __future__ import annotations

from datetime import date
from functools import cache

from babel.dates import format_date
from babel.numbers import format_decimal, get_decimal_symbol, get_group_symbol

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
        if type(n) is int and n >= 0:  # babel's answer, without its per-call locale lookups (pages print hundreds)
            return f"{n:,}".replace(",", _symbols(self.locale)[0])
        return format_decimal(n, locale=self.locale)

    def _one_decimal(self, value: float) -> str:
        """``value`` with at most one decimal, as babel's ``#,##0.#`` writes it."""
        rounded = round(value, 1)
        if rounded < 0:
            return format_decimal(rounded, format="#,##0.#", locale=self.locale)
        group, decimal = _symbols(self.locale)
        whole, fraction = f"{rounded:,.1f}".split(".")
        return whole.replace(",", group) + ("" if fraction == "0" else decimal + fraction)

    def bytes(self, n: int) -> str:
        """Bytes as GB or MB (10^9, 10^6), one decimal: what a person reads at a glance."""
        unit, size = (("Go", "GB"), 1e9) if n >= 1e9 else (("Mo", "MB"), 1e6)
        return f"{self._one_decimal(n / size)}\u00a0{unit[0] if self.lang == 'fr' else unit[1]}"

    def amount(self, metric: str, n: int | None) -> str:
        if n is None:
            return self.none()
        return self.bytes(n) if metric in BYTE_METRICS else self.number(n)

    def percent(self, value: float | None) -> str:
        """``value`` in percent (61.7 -> "61,7 %"), one decimal at most."""
        if value is None:
            return "–"
        text = self._one_decimal(value)
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


@cache
def _symbols(locale: str) -> tuple[str, str]:
    """The locale's group and decimal symbols (``1 300``, ``12,5`` in French)."""
    return get_group_symbol(locale), get_decimal_symbol(locale)
