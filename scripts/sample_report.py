"""Make the sample report under docs/ from the demo pool: its signatories, a month of synthetic
traffic and catalogue metadata, then one partner's report as PDF, its first page and its last
(the compliance section) as PNG (pdftoppm, Debian's poppler-utils), plus the consolidated
report's PDF.

    .venv/bin/python scripts/sample_report.py        (needs the shared Redis; cleans up after)

The pool file is the demo's with another pool id, so a running demo is not touched.
"""
from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import redis.asyncio as redis
from aiohttp import web

from meter.app import create_app
from meter.core.clock import FixedClock
from meter.http import appkeys
from meter.core.periods import parse_period
from meter.registry.csvimport import parse_csv_bytes
from meter.config.settings import DEFAULT_POOL_FILE, Settings, load_pool_config

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "sample-report"
MONTH = "2026-10"
DAILY = {"234500023": 2600, "loiret": 1150, "tours-metropole": 420, "chartres": 90, "unattributed": 60}
DATASETS = ["bornes-recharge", "budget-primitif", "horaires-bibliotheques", "qualite-air", "adresses"]


def events(rng: random.Random) -> list[dict]:
    out = []
    for day in range(1, 32):
        weekend = datetime(2026, 10, day).weekday() >= 5
        for sig, per_day in DAILY.items():
            calls = int(per_day * (0.45 if weekend else 1.0) * rng.uniform(0.7, 1.3) * (1 + day / 40))
            for i, dataset in enumerate(DATASETS):
                share = calls // (2 ** (i + 1))
                if share:
                    out.append({"specversion": "1.0", "id": f"s-{sig}-{day}-{i}", "source": "sample",
                                "type": "api.call", "subject": sig, "time": f"2026-10-{day:02d}T10:00:00Z",
                                "data": {"count": share, "dataset": dataset}})
        out.append({"specversion": "1.0", "id": f"u-{day}", "source": "sample", "type": "update.bytes",
                    "subject": "loiret", "time": f"2026-10-{day:02d}T03:00:00Z",
                    "data": {"bytes": int(rng.uniform(2, 9) * 1e6), "kind": "data"}})
    for i, dataset in enumerate(DATASETS):
        out.append({"specversion": "1.0", "id": f"r-{dataset}", "source": "sample", "type": "dataset.records",
                    "subject": "loiret", "time": "2026-10-02T08:00:00Z",
                    "data": {"dataset": dataset, "records": 180_000 // (i + 1), "raw_bytes": 90_000_000 // (i + 1)}})
    return out + metadata()


def _metas(title: str, frequency: str | None = "Mensuelle", **default) -> dict:
    metas = {"default": {"title": title, "publisher": "Département du Loiret",
                         "description": f"<p>{title} : données publiées par le Département.</p>",
                         "theme": ["Services publics"], "keyword": ["loiret"], "license": "Licence Ouverte v2.0",
                         "modified": "2026-10-02T08:00:00+00:00", "territory": ["Loiret"], **default},
             "dcat": {"created": "2019-05-01", "issued": "2019-05-06", "accrualperiodicity": frequency,
                      "granularity": "Commune"}}
    return metas


def metadata() -> list[dict]:
    """The catalogue's metadata (DESIGN §12): loiret has one dataset of each kind of finding."""
    no_dcat = _metas("Adresses")
    del no_dcat["dcat"]
    found = [("loiret", "bornes-recharge", _metas("Bornes de recharge"), "2026-10-02T08:00:00+00:00"),
             ("loiret", "budget-primitif", _metas("Budget primitif", "Annuelle"), "2025-06-30T08:00:00+00:00"),
             ("loiret", "horaires-bibliotheques", _metas("Horaires des bibliothèques", keyword=[],
                                                         description="<p><br></p>"), "2026-10-02T08:00:00+00:00"),
             ("loiret", "qualite-air", _metas("Qualité de l'air", "Quotidienne"), "2026-10-30T08:00:00+00:00"),
             ("loiret", "adresses", no_dcat, "2026-10-02T08:00:00+00:00"),
             ("234500023", "lycees", _metas("Lycées de la région"), "2026-10-15T08:00:00+00:00"),
             ("tours-metropole", "parkings", _metas("Parkings", None), "2026-10-15T08:00:00+00:00")]
    return [{"specversion": "1.0", "id": f"m-{dataset}", "source": "sample", "type": "dataset.metadata",
             "subject": sig, "time": "2026-10-31T12:00:00Z",
             "data": {"dataset": dataset, "metas": metas, "last_update": last}} for sig, dataset, metas, last in found]


async def main() -> None:
    config = load_pool_config(DEFAULT_POOL_FILE)
    config = config.model_copy(update={"pool": config.pool.model_copy(update={"id": "demo-sample"})})
    clock = FixedClock(datetime(2026, 10, 1, 6, tzinfo=timezone.utc))
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(data_dir=Path(data), scheduler=False, writer_pace_ms=10)
        app = create_app(settings, config, clock=clock)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            await make(app, clock)
        finally:
            ledger = app[appkeys.LEDGER]
            keys = [k async for k in ledger.client.scan_iter(match=ledger.keys.pattern, count=1000)]
            await runner.cleanup()
            client = redis.Redis.from_url(settings.redis_url)
            for i in range(0, len(keys), 500):
                await client.delete(*keys[i:i + 500])
            await client.aclose()


async def make(app, clock: FixedClock) -> None:
    registry = app[appkeys.REGISTRY]
    if await registry.count() == 0:
        await registry.import_rows(parse_csv_bytes((ROOT / "examples" / "signatories.csv").read_bytes()), by="sample")
    await app[appkeys.ALLOCATOR].ensure_current("sample")
    clock.set(datetime(2026, 10, 31, 20, tzinfo=timezone.utc))  # the month's traffic has happened
    await app[appkeys.INGESTOR].ingest(events(random.Random(7)), None)
    ledger = app[appkeys.LEDGER]
    while await ledger.backlog() > 0:
        await asyncio.sleep(0.1)
    clock.set(datetime(2026, 11, 2, 7, tzinfo=timezone.utc))
    reports = app[appkeys.REPORTS]
    period = parse_period(MONTH, app[appkeys.CONFIG].tz, clock.now())
    OUT.mkdir(parents=True, exist_ok=True)
    for sig in ("loiret", "pool"):
        rendered = await reports.report(period, sig)
        (OUT / f"{sig}.pdf").write_bytes(rendered.pdf())
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile", str(OUT / "loiret.pdf"),
                    str(OUT / "loiret-page1")], check=True)
    info = subprocess.run(["pdfinfo", str(OUT / "loiret.pdf")], check=True, capture_output=True, text=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    # the page where the section "Métadonnées et mises à jour" starts (docs/compliance.md shows it)
    page = next(str(n) for n in range(1, pages + 1) if "Métadonnées et mises à jour" in subprocess.run(
        ["pdftotext", "-f", str(n), "-l", str(n), str(OUT / "loiret.pdf"), "-"], check=True, capture_output=True,
        text=True).stdout)
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", page, "-l", page, "-singlefile", str(OUT / "loiret.pdf"),
                    str(OUT / "loiret-compliance")], check=True)
    print(f"written under {OUT}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
