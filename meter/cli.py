"""The ``meter`` command: serve, migrate, import signatories, simulate allocation policies."""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from pathlib import Path

from meter.config.settings import load_pool_config, load_settings
from meter.core.errors import ConfigError, MeterError
from meter.observability import logs

log = logging.getLogger("meter")


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from meter.app import create_app

    settings = load_settings()
    config = load_pool_config(settings.config)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is optional: the standard loop works, a little slower
        pass
    log.info("serving", extra={"pool": config.pool.id, "host": settings.http_host, "port": settings.http_port,
                               "clickhouse": settings.clickhouse_url or f"chdb:{settings.data_dir}"})
    app = create_app(settings, config)
    app.on_startup.append(_settle_garbage_collector)  # after every resource of the app has started
    web.run_app(app, host=settings.http_host, port=settings.http_port,
                access_log=None, print=None, shutdown_timeout=15, reuse_port=args.reuse_port)
    log.info("stopped", extra={"pool": config.pool.id})  # the writer flushed, the store closed
    return 0


# Collections of the youngest generation, every GC_YOUNG allocations net of frees instead of 700:
# ingestion allocates a few objects per event field, and the default made collection a large
# part of a profile of it (PLATFORM.md).
GC_YOUNG = 10_000


async def _settle_garbage_collector(app: object) -> None:
    """What start-up built (modules, the app, its clients) lives as long as the process: frozen,
    the collector stops walking it again at every full collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])


def _migrate(args: argparse.Namespace) -> int:
    from meter.store.clickhouse import ClickHouseStore

    settings = load_settings()

    async def run() -> list[str]:
        store = await ClickHouseStore.open(settings.clickhouse_url, settings.data_dir, settings.clickhouse_database)
        try:
            return await store.migrate()
        finally:
            await store.close()

    applied = asyncio.run(run())
    print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")
    return 0


def _import_signatories(args: argparse.Namespace) -> int:
    from meter.registry.cli import import_file

    settings = load_settings()
    config = load_pool_config(settings.config)
    result = asyncio.run(import_file(settings, config, Path(args.file)))
    print(f"imported {args.file}: {result['created']} created, {result['updated']} updated")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="meter", description="Quota accounting and metering for a shared portal.")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the HTTP API (settings from METER_* variables)")
    serve.add_argument("--reuse-port", action="store_true", help="let several processes share the port")
    serve.set_defaults(func=_serve)
    sub.add_parser("migrate", help="apply the ClickHouse migrations and exit").set_defaults(func=_migrate)
    sig = sub.add_parser("signatories", help="manage signatories").add_subparsers(dest="action", required=True)
    imp = sig.add_parser("import", help="import signatories from a CSV file")
    imp.add_argument("file")
    imp.set_defaults(func=_import_signatories)
    from meter.simulation.cli import add_parser as add_simulate

    add_simulate(sub)
    from meter.collectors.cli import add_parser as add_collect

    add_collect(sub)
    from meter.reports.cli import add_parser as add_reports

    add_reports(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings_level = load_settings().log_level
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    logs.setup(settings_level)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    except MeterError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for detail in exc.details or []:
            print(f"  {detail}", file=sys.stderr)
        return 1
