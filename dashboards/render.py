"""A picture of the Pool dashboard for docs/dashboards.md, since no Grafana server runs here.

``python -m dashboards.render docs/img/pool-dashboard.png`` starts the service in-process on the
real Redis and a temporary chDB, sends it the tests' seeded data (tests/dashboard_data.py), runs
each Pool panel's query exactly as the tests do (macros and variables expanded), and draws the
results with matplotlib at the panels' grid positions. It is a rendering of the queries' results,
labelled so on the image: not a Grafana screenshot.
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from dashboards import catalogue, macros  # noqa: E402

START = datetime(2026, 3, 31, 22, 0, tzinfo=timezone.utc)
END = datetime(2026, 4, 20, 13, 0, tzinfo=timezone.utc)
COLORS = {"red": "#d62728", "orange": "#ff7f0e", "purple": "#9467bd"}
STEPS = [(100, "#d62728"), (90, "#ff7f0e"), (80, "#e5c000"), (float("-inf"), "#2ca02c")]


async def panel_results(pool_id: str, store: Any) -> dict[str, list[dict[str, Any]]]:
    """Every Pool panel's rows (and the explanation variable's) on the seeded data."""
    variables = {"pool": pool_id, "timezone": "Europe/Paris", "explanation": ""}
    r = macros.Range(START, END, 6 * 3600, variables)
    await store.command(f"USE {store.db}")
    out = {}
    for q in catalogue.queries("pool"):
        sql = macros.expand(q.text, r)
        names = [row[0] for row in await store.rows(f"DESCRIBE ({sql})")]
        out[q.title] = [dict(zip(names, row)) for row in await store.rows(sql)]
    return out


async def seeded_results() -> dict[str, list[dict[str, Any]]]:
    from aiohttp.test_utils import TestClient, TestServer

    from meter.app import create_app
    from meter.core.clock import FixedClock
    from meter.http import appkeys
    from meter.config.settings import Settings
    from tests import dashboard_data as data
    from tests.conftest import REDIS_URL, delete_pool_keys, make_config, new_pool_id

    pool_id = new_pool_id()
    with tempfile.TemporaryDirectory(prefix="meter-render-") as tmp:
        settings = Settings(redis_url=REDIS_URL, data_dir=Path(tmp), writer_block_ms=20, writer_pace_ms=10,
                            scheduler=False)
        app = create_app(settings, make_config(pool_id, data.POOL_EXTRA), clock=FixedClock(data.NOW))
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            await data.seed(client)
            return await panel_results(pool_id, app[appkeys.STORE])
        finally:
            ledger = app[appkeys.LEDGER]
            await delete_pool_keys(ledger.client, pool_id)
            await client.close()


def _color(percent: float) -> str:
    return next(color for limit, color in STEPS if percent >= limit)


def draw_bars(ax: Axes, rows: list[dict[str, Any]]) -> None:
    names = [r["metric"] for r in rows][::-1]
    values = [float(r["percent"]) for r in rows][::-1]
    ax.barh(names, values, color=[_color(v) for v in values])
    ax.set_xlim(0, max(100.0, *values))
    ax.set_xlabel("% of the cap")
    ax.tick_params(axis="y", labelsize=6)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.1f} %", va="center", fontsize=7)


def draw_series(ax: Axes, rows: list[dict[str, Any]], limits: set[str], bytes_unit: bool) -> None:
    """Wide rows (a column per series) or long ones (a text column names the series)."""
    label = next((k for k, v in rows[0].items() if isinstance(v, str) and k != "time"), None)
    for key in sorted({r[label] for r in rows}) if label else [None]:
        picked = [r for r in rows if label is None or r[label] == key]
        times = [float(mdates.date2num(datetime.fromisoformat(str(r["time"])))) for r in picked]
        for name in [k for k in picked[0] if k not in ("time", label)]:
            values = [r[name] / 1e6 if bytes_unit and r[name] is not None else r[name] for r in picked]
            ax.plot(times, values, linestyle="--" if name in limits else "-", marker="." if len(times) < 3 else "",
                    label=f"{name} ({key})" if key else name)
    ax.set_xlim(float(mdates.date2num(START)), float(mdates.date2num(END)))
    ax.xaxis_date()
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=6, loc="upper left")
    ax.set_ylabel("MB" if bytes_unit else "")
    ax.tick_params(axis="x", labelsize=6, rotation=30)


def draw_table(ax: Axes, rows: list[dict[str, Any]]) -> None:
    ax.axis("off")
    cells = [[str(v) for v in r.values()] for r in rows]
    ax.table(cellText=cells, colLabels=list(rows[0]), loc="center", fontsize=7)


def draw_text(ax: Axes, text: str) -> None:
    ax.axis("off")
    ax.text(0, 1, textwrap.fill(text, 90), va="top", fontsize=7, wrap=True)


def draw(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    panels = catalogue.load("pool")["panels"]
    rows_total = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(16, rows_total * 0.42))
    fig.suptitle("Rendering of the Pool dashboard's panel queries on the tests' seeded data "
                 "(matplotlib, not a Grafana screenshot)", fontsize=11)
    for p in panels:
        g = p["gridPos"]
        ax = fig.add_axes((g["x"] / 24 + 0.06, 1 - (g["y"] + g["h"]) / rows_total + 0.035,
                           g["w"] / 24 - 0.08, g["h"] / rows_total - 0.075))
        ax.set_title(p["title"], fontsize=9, loc="left")
        limits = {o["matcher"]["options"] for o in p.get("fieldConfig", {}).get("overrides", [])}
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        if p["type"] == "text":
            draw_text(ax, results["variable explanation"][0][next(iter(results["variable explanation"][0]))])
        elif p["type"] == "bargauge":
            draw_bars(ax, results[p["title"]])
        elif p["type"] == "table":
            draw_table(ax, results[p["title"]])
        else:
            draw_series(ax, results[p["title"]], limits, unit == "decbytes")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/pool-dashboard.png")
    draw(asyncio.run(seeded_results()), target)
    print(f"wrote {target}")
