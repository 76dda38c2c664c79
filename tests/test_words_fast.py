"""Words' numbers without babel's per-call lookups are babel's numbers, character for character."""
from babel.numbers import format_decimal

from meter.reports.words import Words

VALUES = [0, 1, 7, 12, 999, 1000, 1300, 12_345, 300_000, 1_234_567, 9_000_000_000, 2**53 - 1]
FLOATS = [0.0, 0.04, 0.05, 0.15, 1.25, 12.5, 32.0, 61.66, 99.95, 100.0, 999.96, 1234.5, 123456.789, -3.25, -0.04]


def test_numbers_and_one_decimal_values_are_babels():
    for lang, locale in (("fr", "fr_FR"), ("en", "en_GB")):
        w = Words(lang)
        for n in VALUES:
            assert w.number(n) == format_decimal(n, locale=locale), n
        for x in FLOATS:
            assert w._one_decimal(x) == format_decimal(round(x, 1), format="#,##0.#", locale=locale), x
            assert w.number(x) == format_decimal(x, locale=locale), x
