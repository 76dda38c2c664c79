"""Fonts parsed once per thread: each PDF gets a light copy of a parsed font.

fpdf2's ``add_font`` parses the TrueType file for every document (its glyph table, names and
metrics): about a quarter of a report's PDF. What a document changes in a font is its own subset
(the glyphs it uses), its index and what it saw missing, and the fontTools object that the output
cuts to that subset in place. So the parsed font is kept per thread (fpdf2 objects are not
shared between threads), and each document gets a shallow copy with those parts new, its
fontTools object read lazily from the file's bytes: the output then reads only the glyphs the
document uses.
"""
from __future__ import annotations

import copy
import io
import threading
from functools import cache

from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

_parsed = threading.local()


@cache
def _bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _template(pdf: FPDF, family: str, style: str, path: str) -> TTFFont:
    fonts: dict[tuple[str, str], TTFFont] = _parsed.__dict__.setdefault("fonts", {})
    key = (style, path)
    if key not in fonts:
        font = TTFFont(pdf, path, f"{family.lower()}{style}", style)  # type: ignore[arg-type]
        font.ttfont.close()  # what the copies need is parsed; each gets its own fontTools object
        fonts[key] = font
    return fonts[key]


def fresh_font(pdf: FPDF, family: str, style: str, path: str) -> TTFFont:
    """A font for one document, as ``add_font`` would make it, without parsing the file again."""
    font = copy.copy(_template(pdf, family, style, path))
    font.i = len(pdf.fonts) + 1
    font.ttfont = ttLib.TTFont(io.BytesIO(_bytes(path)), recalcTimestamp=False, lazy=True)
    font.subset = SubsetMap(font)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font._hbfont = None
    return font
