"""A report in each format: ``html`` (CSS inlined), ``text``, ``csv``, ``pdf``, ``json``, and the
chart. HTML served as a page carries its chart as a ``data:`` URI; in mail, as ``cid:``.
"""
from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import css_inline
import jinja2
import orjson

from meter.reports import lines as L
from meter.reports.chart import chart_png
from meter.reports.csvfile import report_csv
from meter.reports.document import Context, Document, build
from meter.reports.figures import MonthFigures
from meter.reports.pdf import report_pdf
from meter.reports.words import Words

Format = Literal["html", "text", "csv", "pdf", "json"]
FORMATS: tuple[Format, ...] = ("html", "text", "csv", "pdf", "json")
CONTENT_TYPES = {"html": "text/html; charset=utf-8", "text": "text/plain; charset=utf-8",
                 "csv": "text/csv; charset=utf-8", "pdf": "application/pdf", "json": "application/json"}
CHART_CID = "chart"


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("meter.reports", "templates"),
                              autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


@dataclass
class Rendered:
    """One report, ready to read or to mail."""

    figures: MonthFigures
    context: Context
    document: Document
    chart: bytes

    def html(self, inline_chart: bool = True) -> str:
        src = "data:image/png;base64," + base64.b64encode(self.chart).decode() if inline_chart else f"cid:{CHART_CID}"
        page = _env().get_template("report.html").render(doc=self.document, chart_src=src)
        return str(css_inline.inline(page))

    def text(self) -> str:
        return _env().get_template("report.txt").render(doc=self.document)

    def csv(self) -> bytes:
        return report_csv(self.figures, self.context.sig, self.context.caps)

    def pdf(self) -> bytes:
        return report_pdf(self.document, self.chart)

    def json(self) -> dict[str, Any]:
        ctx, figures = self.context, self.figures
        return {"signatory": ctx.sig, "name": ctx.name, "period": figures.period.label,
                "provisional": figures.provisional, "title": self.document.title,
                "metrics": {line.metric: {"used": line.used, "allotment": line.allotment, "percent": line.percent,
                                          "pool_used": line.pool_used, "cap": line.cap, "previous": line.previous}
                            for line in L.lines(figures, ctx.sig, ctx.caps)},
                "sections": [dataclasses.asdict(s) for s in self.document.sections]}

    def body(self, fmt: Format) -> bytes:
        if fmt == "html":
            return self.html().encode()
        if fmt == "text":
            return self.text().encode()
        if fmt == "csv":
            return self.csv()
        if fmt == "pdf":
            return self.pdf()
        return orjson.dumps(self.json())


def render(figures: MonthFigures, context: Context) -> Rendered:
    allotment = L.month_allotment(figures, context.sig, "api_calls", context.caps)
    chart = chart_png(L.daily_calls(figures, context.sig), allotment, Words(context.lang))
    return Rendered(figures, context, build(figures, context), chart)
