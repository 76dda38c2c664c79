"""The report as a PDF, with fpdf2 and the DejaVu Sans font that matplotlib ships.

fpdf2 is pure Python and installs from PyPI alone (no system library, unlike WeasyPrint's
Pango), and an embedded TrueType font is needed anyway: the PDF base fonts cannot write the
narrow no-break space of French numbers.
"""
from __future__ import annotations

import io
import os

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace

from meter.reports.document import Document, Section

FONT_DIR = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
BLUE = (26, 54, 93)


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text
        self.add_font("DejaVu", "", os.path.join(FONT_DIR, "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", os.path.join(FONT_DIR, "DejaVuSans-Bold.ttf"))
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
    pdf.multi_cell(0, 8, doc.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    for note in doc.notes:
        pdf.set_font("DejaVu", "", 9.5)
        pdf.set_fill_color(255, 250, 240)
        pdf.multi_cell(0, 5.5, note, fill=True, new_x="LMARGIN", new_y="NEXT")
    for section in doc.sections:
        _section(pdf, section, chart)
    return bytes(pdf.output())


def _section(pdf: _Pdf, section: Section, chart: bytes) -> None:
    if pdf.will_page_break(30):
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 11.5)
    pdf.set_text_color(*BLUE)
    pdf.multi_cell(0, 7, section.heading, new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(190, 227, 248)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(1.5)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("DejaVu", "", 9.5)
    for paragraph in section.paragraphs:
        pdf.multi_cell(0, 5, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    if section.chart:
        pdf.image(io.BytesIO(chart), w=pdf.epw)
    if section.table is not None:
        _table(pdf, section)
    pdf.set_font("DejaVu", "", 9.5)
    for paragraph in section.after:
        pdf.multi_cell(0, 5, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    for item in section.items:
        pdf.multi_cell(0, 5, "•  " + item, new_x="LMARGIN", new_y="NEXT")


def _table(pdf: _Pdf, section: Section) -> None:
    assert section.table is not None
    table = section.table
    pdf.set_font("DejaVu", "", 8)
    align = ["LEFT" if i < table.left else "RIGHT" for i in range(len(table.header))]
    first = 2.2 if len(table.header) > 4 else 1.6
    widths = (first,) + (1,) * (len(table.header) - 1)
    with pdf.table(col_widths=widths, text_align=tuple(align), line_height=5,  # type: ignore[arg-type]
                   headings_style=FontFace(emphasis="BOLD", fill_color=(235, 248, 255)),
                   borders_layout="HORIZONTAL_LINES") as grid:
        for row in [table.header, *table.rows]:
            cells = grid.row()
            for cell in row:
                cells.cell(cell)
    pdf.ln(2)
