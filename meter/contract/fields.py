"""Field types shared by the request models, each with the JSON Schema that states its rule.

Integers are strict (``true`` and ``"12"`` are not numbers) but a JSON number with no fraction
(``12.0``) is the integer it spells, as JSON Schema's ``integer`` says. Text refuses control
characters: ids and names end up in Redis keys, in a wire format separated by ``\\x1f`` and in
log lines.
"""
from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import AfterValidator, Field, WithJsonSchema

from meter.config.settings import MAX_INT
from meter.core.limits import MAX_ID, MAX_NAME, MAX_SUBJECT  # noqa: E402,F401 - the contract states them

MAX_ITEM = 256  # a dataset's or a content object's name: part of a Redis key (DESIGN §4)
TEXT = r"^[^\x00-\x1f\x7f-\x9f]+$"  # no C0 or C1 control character (the JSON Schema regex too)




def _whole(value: float) -> int:
    # pydantic's multiple_of has a tolerance (2.5e-42 passes): is_integer() has none
    if not value.is_integer():
        raise ValueError("must be an integer")
    return int(value)


def Text(limit: int) -> Any:  # noqa: N802 - used as a type
    """A non-empty string of at most ``limit`` characters, no control character."""
    return Annotated[str, Field(strict=True, min_length=1, max_length=limit, pattern=TEXT)]


def Int(minimum: int, maximum: int = MAX_INT) -> Any:  # noqa: N802 - used as a type
    """An integer from ``minimum`` to ``maximum``, both included.

    JSON Schema's ``integer`` admits a number with a zero fraction (12.0): a strict float is
    accepted beside a strict int when it is whole. A JSON integer takes the int branch in
    pydantic's core, with no Python call on the hot path; only a float pays for ``_whole``.
    Readers take ``int(value)``.
    """
    bounds = {"ge": minimum, "le": maximum}
    either = Union[Annotated[int, Field(strict=True, **bounds)],  # noqa: UP007 (a union of Annotated aliases)
                   Annotated[float, Field(strict=True, allow_inf_nan=False, **bounds), AfterValidator(_whole)]]
    return Annotated[either, WithJsonSchema({"type": "integer", "minimum": minimum, "maximum": maximum})]


def month_pattern(first: int, last: int) -> str:
    """YYYY-MM, years from ``first`` to ``last``."""
    return f"^{_years(first, last, False)}-(0[1-9]|1[0-2])$"


def _years(first: int, last: int, leap: bool) -> str:
    """The years from ``first`` to ``last`` (leap ones only, if ``leap``), a whole decade as one
    alternative: the regex stays short enough for a spec that clients load."""
    if leap:
        years = [str(y) for y in range(first, last + 1) if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)]
        return "(" + "|".join(years) + ")"
    parts = []
    for decade in range(first // 10, last // 10 + 1):
        span = range(max(first, decade * 10), min(last, decade * 10 + 9) + 1)
        parts += [f"{decade}[0-9]"] if len(span) == 10 else [str(y) for y in span]
    return "(" + "|".join(parts) + ")"


def period_pattern(first: int, last: int) -> str:
    """YYYY-MM or a real calendar day YYYY-MM-DD, years from ``first`` to ``last``: a regex
    exact enough that a generator of matching strings only makes valid periods."""
    year, leap = _years(first, last, False), _years(first, last, True)
    days = ("(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
            "|02-(0[1-9]|1[0-9]|2[0-8])")
    return f"^({year}-(0[1-9]|1[0-2])|{year}-({days})|{leap}-02-29)$"
