"""``meter reports send MONTH`` and ``meter reports show MONTH ID``: a client of the running service.

The service owns the store (chDB allows one process per database), so the command asks it over
HTTP, with a token from ``--token`` or ``METER_TOKEN``, as an admin or a reader would.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from meter.core.errors import MeterError


def add_parser(sub: Any) -> None:
    reports = sub.add_parser("reports", help="monthly reports: send them, or read one").add_subparsers(
        dest="action", required=True)
    send = reports.add_parser("send", help="send a finished month's reports (each once)")
    send.add_argument("month", help="YYYY-MM")
    send.add_argument("--resend", action="store_true", help="send again the reports already sent")
    send.add_argument("--signatory", action="append", metavar="ID", help="only this one (repeatable; 'pool' too)")
    send.add_argument("--wait", type=float, default=300, metavar="S", help="seconds to wait for the sending (0: none)")
    show = reports.add_parser("show", help="print one report (redirect a PDF to a file)")
    show.add_argument("month", help="YYYY-MM")
    show.add_argument("id", help="a signatory's id, or pool")
    show.add_argument("--format", default="text", choices=("html", "text", "csv", "pdf", "json"))
    for p in (send, show):
        p.add_argument("--url", default=None, help="the service (default http://METER_HTTP_HOST:METER_HTTP_PORT)")
        p.add_argument("--token", default=None, help="a bearer token (default METER_TOKEN)")
    send.set_defaults(func=_send)
    show.set_defaults(func=_show)


def _client(args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    from meter.config.settings import load_settings

    settings = load_settings()
    url = (args.url or f"http://{settings.http_host}:{settings.http_port}").rstrip("/")
    token = args.token or os.environ.get("METER_TOKEN")
    if not token:
        raise MeterError("a token is needed: --token or METER_TOKEN")
    return url, {"Authorization": f"Bearer {token}"}


def _call(method: str, url: str, headers: dict[str, str], body: Any = None) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    hdrs = {**headers, **({"Content-Type": "application/json"} if data else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=hdrs),
                                    timeout=120) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")
        raise MeterError(f"{method} {url}: {err.code} {detail}") from None
    except OSError as exc:
        raise MeterError(f"{method} {url}: cannot reach the service ({exc})") from None


def _send(args: argparse.Namespace) -> int:
    base, headers = _client(args)
    body: dict[str, Any] = {"resend": args.resend}
    if args.signatory:
        body["signatories"] = args.signatory
    result = json.loads(_call("POST", f"{base}/v1/reports/{args.month}/send", headers, body))
    print(f"{args.month}: {result['queued']} queued, {result['skipped']} skipped")
    deadline = time.monotonic() + args.wait
    while args.wait and result["queued"]:
        reports = json.loads(_call("GET", f"{base}/v1/reports/{args.month}", headers))["reports"]
        counts: dict[str, int] = {}
        for r in reports:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        if not counts.get("pending") or time.monotonic() > deadline:
            print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
            for r in reports:
                if r["status"] == "failed":
                    print(f"  {r['signatory']}: {r.get('error')}", file=sys.stderr)
            return 1 if counts.get("failed") or counts.get("pending") else 0
        time.sleep(1)
    return 0


def _show(args: argparse.Namespace) -> int:
    base, headers = _client(args)
    body = _call("GET", f"{base}/v1/reports/{args.month}/{args.id}?format={args.format}", headers)
    sys.stdout.buffer.write(body)
    sys.stdout.flush()
    return 0
