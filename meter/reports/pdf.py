"""The report as a PDF, with fpdf2 and the DejaVu Sans font that matplotlib ships.

fpdf2 is pure Python and installs from PyPI alone (no system library, unlike WeasyPrint's
Pango), and an embedded TrueType font is needed anyway: the PDF base fonts cannot write the
narrow no-break space of French numbers.
"""
from __future__ import annotations

import io
import logging
import os
import tempfile
from functools import cache

import matplotlib
from fontTools import subset
from fpdf import FPDF

from meter.reports.blocks import Section
from meter.reports.document import Document
from meter.reports.pdf_fonts import fresh_font
from meter.reports.pdf_layout import TableStyle, bullet, paragraph, table

FONT_DIR = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
BLUE = (26, 54, 93)
TABLE = TableStyle(line_height=5, header_fill=(235, 248, 255), rule=(190, 227, 248), bold_family="DejaVu")
# Latin letters of every European language, punctuation, spaces (U+202F too), currency, arrows:
# DejaVu cut to these parses in milliseconds, where the whole font costs fpdf2 half a second a PDF
TEXT_RANGES = [(0x20, 0x24F), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x21FF), (0x2212, 0x2212)]


@cache
def _font(file_name: str) -> str:
    """A copy of one DejaVu file cut to TEXT_RANGES, made once per process."""
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # tables it drops are not ours to mind
    out = os.path.join(tempfile.mkdtemp(prefix="meter-fonts-"), file_name)
    with open(os.path.join(FONT_DIR, file_name), "rb") as source:
        font = subset.load_font(source, subset.Options(), lazy=False)
        # no layout tables (fpdf2 drops them from the PDF anyway without text shaping) and no hinting
        # (a PDF viewer scales outlines): the output's own cut to a document's glyphs then has less to walk
        options = subset.Options(layout_features=[], hinting=False, name_IDs=["*"], notdef_outline=True)
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "kern"]
        cutter = subset.Subsetter(options)
        cutter.populate(unicodes=[c for lo, hi in TEXT_RANGES for c in range(lo, hi + 1)])
        cutter.subset(font)
        font.save(out)
        font.close()
    return out


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text
        for style, file_name in (("", "DejaVuSans.ttf"), ("B", "DejaVuSans-Bold.ttf")):
            self.fonts[f"dejavu{style}"] = fresh_font(self, "DejaVu", style, _font(file_name))
        self.set_margins(16, 16, 16)
        self.set_auto_page_break(True, margin=18)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 7.5)
        self.set_text_color(113, 128, 150)
        self.cell(0, 5, f"{self.footer_text}  ·  {self.page_no()}/{{nb}}", align="C")


def report_pdf(doc: Document, chart: bytes) -> bytes:
    pdf = _Pdf(doc.footer)
    pdf.set_title(doc.title)
    pdf.set_lang(doc.lang)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 15)
    pdf.set_text_color(*BLUE)
    pdf.multi_cell(0, 8, doc.title, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    for note in doc.notes:
        pdf.set_font("DejaVu", "", 9.5)
        pdf.set_fill_color(255, 250, 240)
        paragraph(pdf, note, 5.5, fill=True)
    for section in doc.sections:
        _section(pdf, section, chart)
    return bytes(pdf.output())


def _section(pdf: _Pdf, section: Section, chart: bytes) -> None:
    if pdf.will_page_break(30):
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 11.5)
    pdf.set_text_color(*BLUE)
    pdf.multi_cell(0, 7, section.heading, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(190, 227, 248)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(1.5)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("DejaVu", "", 9.5)
    for text in section.paragraphs:
        paragraph(pdf, text, 5)
        pdf.ln(1)
    if section.chart:
        pdf.image(io.BytesIO(chart), w=pdf.epw)
    if section.table is not None:
        _table(pdf, section)
    pdf.set_font("DejaVu", "", 9.5)
    for item in section.items:
        bullet(pdf, item, 5)
    if section.items and section.after:
        pdf.ln(1.5)
    for text in section.after:
        paragraph(pdf, text, 5)
        pdf.ln(1)


def _table(pdf: _Pdf, section: Section) -> None:
    assert section.table is not None
    grid = section.table
    pdf.set_font("DejaVu", "", 8)
    first = 2.2 if len(grid.header) > 4 else 1.6
    weights = (first,) + (1,) * (len(grid.header) - 1)
    table(pdf, grid.header, grid.rows, weights, grid.left, TABLE)
    pdf.ln(2)
