"""The real Caddy in front of the meter with the shipped ``deploy/caddy/Caddyfile``, and a fake
upstream behind it.

``Caddy`` runs the Debian binary as a subprocess on the shipped Caddyfile unchanged: its addresses
and the gateway token come from the environment, as the file's header tells a user to set them,
and ``HOME``/``XDG_*`` point into the test's own directory so nothing under /root or /var is
touched. ``FakeUpstream`` stands for the open-data portal (outside the system): a small aiohttp
app in a thread of its own that answers 200 "portal" to everything and records what reached it.
"""
from __future__ import annotations

import asyncio
import http.client
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from aiohttp import web

from tests.service import ROOT, free_port, terminate, wait_listening

CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
UPSTREAM_BODY = b"portal"


def find_caddy() -> str:
    """The caddy binary; a missing one fails the test (``make test`` installs Debian's caddy)."""
    return shutil.which("caddy") or pytest.fail("caddy is not installed: run make test (it installs caddy)")


class FakeUpstream:
    """The portal behind Caddy: an aiohttp app answering 200 "portal", each request recorded as
    (method, path with query, headers)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-upstream", daemon=True)
        self._runner: web.AppRunner | None = None

    async def _answer(self, request: web.Request) -> web.Response:
        await request.read()
        self.seen.append((request.method, request.path_qs, dict(request.headers)))
        return web.Response(body=UPSTREAM_BODY, content_type="text/plain")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


class Caddy:
    """Caddy on a free loopback port with the shipped Caddyfile: the meter at ``meter_port``,
    the fake upstream at ``upstream_port``."""

    def __init__(self, home: Path, meter_port: int, token: str, upstream_port: int) -> None:
        self.binary = find_caddy()
        self.port = free_port()
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.log = home / "caddy.log"
        self.env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
                    "XDG_CONFIG_HOME": str(home / "config"), "PORTAL_SITE": f"http://:{self.port}",
                    "METER_ADDRESS": f"127.0.0.1:{meter_port}", "METER_GATEWAY_TOKEN": token,
                    "PORTAL_UPSTREAM": f"127.0.0.1:{upstream_port}"}
        self.proc: subprocess.Popen | None = None

    def _argv(self, command: str) -> list[str]:
        return [self.binary, command, "--config", str(CADDYFILE), "--adapter", "caddyfile"]

    def validate(self) -> None:
        """``caddy validate`` on the shipped file: an error fails with Caddy's words."""
        out = subprocess.run(self._argv("validate"), env=self.env, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr[-3000:]

    def start(self, timeout: float = 15.0) -> Caddy:
        self.validate()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self._argv("run"), env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_listening(self.proc, self.port, timeout, "caddy", self.log_tail)
        return self

    def stop(self) -> None:
        terminate(self.proc)

    def __enter__(self) -> Caddy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def get(self, path: str, headers: dict[str, str] | None = None,
            timeout: float = 10.0) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request through Caddy, as a client of the portal sends it; the headers keep
        repeated fields (``get_all``)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Host": "portal.example", **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text()[-chars:] if self.log.exists() else ""
