"""``meter collect access-log|ods``: the collectors as commands (DESIGN §9).

``--url`` (default http://127.0.0.1:8080) and ``--token`` (or ``METER_TOKEN``) name the meter;
``--state`` (default ``$METER_DATA_DIR/collectors``) is where a collector remembers what it sent.
SIGTERM and Ctrl-C stop a collector cleanly: the batch in hand is either accepted and
checkpointed, or read again next time.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from meter.config.settings import load_settings
from meter.core.errors import ConfigError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default="http://127.0.0.1:8080", help="the meter's base URL")
    p.add_argument("--token", default=None, help="a producer token (default: METER_TOKEN)")
    p.add_argument("--state", default=None, help="state directory (default: $METER_DATA_DIR/collectors)")


def add_parser(sub: Any) -> None:
    collect = sub.add_parser("collect", help="send usage from the gateway's logs or the portal's catalogue")
    which = collect.add_subparsers(dest="collector", required=True)
    logs = which.add_parser("access-log", help="the gateway's JSON access log -> api.call events")
    _common(logs)
    logs.add_argument("--source", default="access-log", help="the events' source (default: access-log)")
    logs.add_argument("--follow", action="store_true", help="keep tailing the files until SIGTERM")
    logs.add_argument("files", nargs="+", metavar="FILE")
    logs.set_defaults(func=_access_log)
    ods = which.add_parser("ods", help="the portal's catalogue (Explore API v2.1) -> dataset snapshots, once")
    _common(ods)
    ods.add_argument("--portal", required=True, help="the portal's base URL")
    ods.add_argument("--apikey", default=None, help="the portal's API key (default: METER_ODS_APIKEY)")
    ods.add_argument("--max-bytes", type=int, default=512 * 1024 * 1024,
                     help="the largest catalogue export read (default 512 MiB); past it the poll fails")
    ods.set_defaults(func=_ods)


def _token(args: argparse.Namespace) -> str:
    token = args.token or os.environ.get("METER_TOKEN", "")
    if not token:
        raise ConfigError("no token: pass --token or set METER_TOKEN (a producer token of the meter)")
    return token


def _state(args: argparse.Namespace) -> Path:
    return Path(args.state) if args.state else load_settings().data_dir / "collectors"


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _access_log(args: argparse.Namespace) -> int:
    from meter.collectors.access_log import collect_access_logs

    token, state = _token(args), _state(args)

    async def run() -> list:
        stop = _stop_on_signals()
        return await collect_access_logs([Path(f) for f in args.files], args.url, token, state, args.source,
                                         args.follow, stop)

    for path, tally in asyncio.run(run()):
        print(tally.summary(path), flush=True)
    return 0


def _ods(args: argparse.Namespace) -> int:
    from meter.collectors.ods import CatalogueError, OdsState, PollResult, poll_once
    from meter.collectors.sender import MeterClient, Stopped

    token, state = _token(args), _state(args)
    apikey = args.apikey if args.apikey is not None else os.environ.get("METER_ODS_APIKEY", "")

    async def run() -> PollResult:
        stop = _stop_on_signals()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            client = MeterClient(session, args.url, token, stop)

            async def sink(events: list[dict[str, Any]]) -> tuple[int, int, int]:
                sent = await client.send(events)
                return sent.accepted, sent.duplicates, sent.refused

            return await poll_once(session, args.portal, apikey, OdsState(state / "ods.json", args.portal),
                                   sink, datetime.now(UTC), args.max_bytes)

    try:
        result = asyncio.run(run())
        print(result.summary(args.portal), flush=True)
        if result.refused:  # the summary counts them; the status says it (DESIGN §4)
            return 1
    except CatalogueError as exc:
        print(f"error: {exc.message}; nothing changed", file=sys.stderr)
        return 1
    except Stopped:
        print("stopped before the meter accepted the poll; nothing changed", file=sys.stderr)
        return 1
    return 0
