"""The month's API calls day by day against the allotment's pace, as a PNG (matplotlib, Agg).

matplotlib is driven through its object API with a figure of our own (never pyplot's global
state), so charts can be drawn from any thread.
"""
from __future__ import annotations

import io
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from meter.reports.words import Words

LABELS = {"fr": ("Appels API par jour", "Rythme de la part"), "en": ("API calls per day", "Pace of the share")}


def chart_png(series: list[tuple[date, int]], allotment: int | None, words: Words) -> bytes:
    bars, pace = LABELS[words.lang]
    fig = Figure(figsize=(7.0, 2.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    days = [d.day for d, _ in series]
    values = [n for _, n in series]
    ax.bar(days, values, color="#2b6cb0", label=bars)
    top = float(max(values, default=0))
    if allotment:
        ax.axhline(allotment / len(series), color="#c05621", linestyle="--", linewidth=1.5, label=pace)
        top = max(top, allotment / len(series))
    ax.set_ylim(0, top * 1.1 or 1)
    ax.set_xlim(0.3, len(series) + 0.7)
    ax.set_xticks([d for d in days if d == 1 or d % 5 == 0])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: words.number(int(v))))
    ax.spines[["top", "right"]].set_visible(False)
    # below the plot, so it never hides a bar or the pace line
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False, fontsize=8)
    ax.tick_params(labelsize=8)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.96, bottom=0.22)  # fixed: tight_layout draws twice
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
