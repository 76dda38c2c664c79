"""The report's CSV for spreadsheets (DESIGN §8): UTF-8 with a BOM, ``;``, ISO dates, metric ids.

One row per day and flow metric, then one row per stock metric dated the month's last day. The
allotment column holds the allotment of the row's own period (the month's for ``api_calls``,
the day's for ``update_bytes``, the current one for stocks; the pool's report: the caps), empty
where there is none.
"""
from __future__ import annotations

import csv
import io

from meter.config.settings import FLOW_METRICS, STOCK_METRICS, CapsSection
from meter.reports import lines as L
from meter.reports.figures import MonthFigures, days_of

HEADER = ["date", "metric", "used", "allotment"]


def report_csv(figures: MonthFigures, sig: str, caps: CapsSection) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADER)
    days = days_of(figures.period)
    for metric in FLOW_METRICS:
        month_allot = L.month_allotment(figures, sig, metric, caps) if metric == "api_calls" else None
        for day in days:
            used = figures.pool_day(metric, day) if sig == L.POOL else \
                figures.daily.get(metric, {}).get(sig, {}).get(day, 0)
            allot = month_allot if metric == "api_calls" else L.day_allotment(figures, sig, day, caps)
            writer.writerow([day.isoformat(), metric, used, "" if allot is None else allot])
    stock_lines = {line.metric: line for line in L.lines(figures, sig, caps)}
    for metric in STOCK_METRICS:
        line = stock_lines[metric]
        writer.writerow([days[-1].isoformat(), metric, line.used, "" if line.allotment is None else line.allotment])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")
