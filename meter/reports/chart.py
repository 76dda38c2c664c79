"""The month's API calls day by day against the allotment's pace, as a PNG (matplotlib, Agg).

matplotlib is driven through its object API with figures of our own (never pyplot's global
state). Building a figure costs about as much as drawing it, and a monthly run draws some 200
charts that differ only in their numbers, so each thread keeps one template per (language,
days in the month) and only moves the bars, the pace line and the axis for each partner. A
template is used by one thread at a time (reports render in worker threads).
"""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import date

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from meter.reports.words import Words

LABELS = {"fr": ("Appels API par jour", "Rythme de la part"), "en": ("API calls per day", "Pace of the share")}
_local = threading.local()


@dataclass
class _Template:
    fig: Figure
    bars: BarContainer
    pace: Line2D
    words: Words


def chart_png(series: list[tuple[date, int]], allotment: int | None, words: Words) -> bytes:
    chart = _template(words, len(series))
    values = [n for _, n in series]
    for bar, value in zip(chart.bars, values):
        bar.set_height(value)
    top = float(max(values, default=0))
    chart.pace.set_visible(bool(allotment))
    if allotment:
        pace = allotment / len(series)
        chart.pace.set_ydata([pace, pace])
        top = max(top, pace)
    ax = chart.fig.axes[0]
    ax.set_ylim(0, top * 1.1 or 1)
    _legend(ax, [chart.pace, chart.bars] if allotment else [chart.bars])
    out = io.BytesIO()
    chart.fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _legend(ax: Axes, handles: list[Artist | BarContainer]) -> None:
    # below the plot, so it never hides a bar or the pace line; the pace only when there is one
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False, fontsize=8)


def _template(words: Words, days: int) -> _Template:
    templates: dict[tuple[str, int], _Template] = _local.__dict__.setdefault("templates", {})
    key = (words.lang, days)
    if key not in templates:
        templates[key] = _build(words, days)
    return templates[key]


def _build(words: Words, days: int) -> _Template:
    bars_label, pace_label = LABELS[words.lang]
    fig = Figure(figsize=(7.0, 2.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    numbers = list(range(1, days + 1))
    bars = ax.bar(numbers, [0] * days, color="#2b6cb0", label=bars_label)
    pace = ax.axhline(0, color="#c05621", linestyle="--", linewidth=1.5, label=pace_label)
    ax.set_xlim(0.3, days + 0.7)
    ax.set_xticks([d for d in numbers if d == 1 or d % 5 == 0])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: words.number(int(v))))
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.96, bottom=0.22)  # fixed: tight_layout draws twice
    return _Template(fig, bars, pace, words)
