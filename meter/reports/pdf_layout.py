"""Paragraphs and tables laid out with a width table, drawn with plain cells.

fpdf2's ``multi_cell`` (and its ``table``, which calls it for every cell) measures a line again
for each character it adds, which made line breaking the largest part of a report's PDF. Here
each character's width is looked up once per font and size, a word's width is a sum, and lines
are filled greedily; each line is then one ``cell``. Text is aligned left (ragged right), which
reads better than justified text with stretched spaces, and is what accessibility guidance
recommends.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fpdf import FPDF

Measure = Callable[[str], float]


def measure(pdf: FPDF) -> Measure:
    """The width (in the document's unit) of a text in the current font and size."""
    assert pdf.current_font is not None, "set a font first"
    cache: dict[str, float] = _widths.setdefault((pdf.current_font.fontkey, pdf.font_size_pt), {})

    def width(text: str) -> float:
        total = 0.0
        for char in text:
            w = cache.get(char)
            if w is None:
                w = cache[char] = pdf.get_string_width(char)
            total += w
        return total

    return width


_widths: dict[tuple[str, float], dict[str, float]] = {}  # a character's width depends on font and size only


def wrap(text: str, width: float, measure: Measure) -> list[str]:
    """``text`` cut into lines no wider than ``width``, at spaces; a word wider than a line is cut
    between characters. Line breaks in the text are kept."""
    lines: list[str] = []
    space = measure(" ")
    for part in text.split("\n"):
        line, used = "", 0.0
        for word in part.split(" "):
            w = measure(word)
            if line and used + space + w <= width:
                line, used = f"{line} {word}", used + space + w
                continue
            if line:
                lines.append(line)
            line, used = _fit_word(word, w, width, measure, lines)
        lines.append(line)
    return lines


def _fit_word(word: str, w: float, width: float, measure: Measure, lines: list[str]) -> tuple[str, float]:
    """Start a line with ``word``; the parts of a word longer than a line go to ``lines``."""
    while w > width and len(word) > 1:
        cut = len(word) - 1
        while cut > 1 and measure(word[:cut]) > width:
            cut -= 1
        lines.append(word[:cut])
        word = word[cut:]
        w = measure(word)
    return word, w


def paragraph(pdf: FPDF, text: str, line_height: float, fill: bool = False) -> None:
    """``text`` across the page's width, starting at the left margin."""
    for line in wrap(text, pdf.epw - 2 * pdf.c_margin, measure(pdf)):
        pdf.cell(pdf.epw, line_height, line, fill=fill, new_x="LMARGIN", new_y="NEXT")


def bullet(pdf: FPDF, text: str, line_height: float, indent: float = 4.5) -> None:
    """A list item: a bullet, then ``text`` wrapped with its lines aligned after the bullet."""
    width = pdf.epw - indent
    for i, line in enumerate(wrap(text, width - 2 * pdf.c_margin, measure(pdf))):
        pdf.cell(indent, line_height, "•" if i == 0 else "", align="R")
        pdf.cell(width, line_height, line, new_x="LMARGIN", new_y="NEXT")


@dataclass(frozen=True)
class TableStyle:
    line_height: float
    header_fill: tuple[int, int, int]
    rule: tuple[int, int, int]
    bold_family: str


def table(pdf: FPDF, header: Sequence[str], rows: Sequence[Sequence[str]], weights: Sequence[float],
          left: int, style: TableStyle) -> None:
    """A table across the page: a bold header on a tinted band (repeated after a page break),
    then the rows, each under a thin rule; the first ``left`` columns aligned left, the others
    right. A cell's text wraps within its column."""
    widths = [pdf.epw * w / sum(weights) for w in weights]
    aligns = ["L" if i < left else "R" for i in range(len(header))]
    family, size = pdf.font_family, pdf.font_size_pt
    pdf.set_draw_color(*style.rule)
    _row(pdf, header, widths, aligns, style, head=True)
    for row in rows:
        lines = _lines(pdf, row, widths)
        if pdf.will_page_break(len(max(lines, key=len)) * style.line_height):
            pdf.add_page()
            _row(pdf, header, widths, aligns, style, head=True)
            pdf.set_font(family, "", size)
        _draw(pdf, lines, widths, aligns, style, fill=False)
    pdf.set_font(family, "", size)


def _row(pdf: FPDF, cells: Sequence[str], widths: list[float], aligns: list[str], style: TableStyle,
         head: bool) -> None:
    family, size = pdf.font_family, pdf.font_size_pt
    if head:
        pdf.set_font(style.bold_family, "B", size)
        pdf.set_fill_color(*style.header_fill)
    _draw(pdf, _lines(pdf, cells, widths), widths, aligns, style, fill=head)
    pdf.set_font(family, "", size)


def _lines(pdf: FPDF, cells: Sequence[str], widths: list[float]) -> list[list[str]]:
    width = measure(pdf)
    return [wrap(text, w - 2 * pdf.c_margin, width) for text, w in zip(cells, widths)]


def _draw(pdf: FPDF, lines: list[list[str]], widths: list[float], aligns: list[str], style: TableStyle,
          fill: bool) -> None:
    height = max(len(cell) for cell in lines) * style.line_height
    x, y = pdf.l_margin, pdf.get_y()
    for cell, w, align in zip(lines, widths, aligns):
        if fill:
            pdf.rect(x, y, w, height, style="F")
        for i, text in enumerate(cell):
            pdf.set_xy(x, y + i * style.line_height)
            pdf.cell(w, style.line_height, text, align=align)
        x += w
    pdf.set_xy(pdf.l_margin, y + height)
    pdf.line(pdf.l_margin, y + height, pdf.l_margin + pdf.epw, y + height)
