"""The real nginx in front of the meter, with the shipped snippets, and a stand-in portal behind.

``Nginx`` runs the Debian binary as a subprocess (``daemon off``) in its own prefix directory: its
own pid file, logs and temp paths, so nothing under /var/lib/nginx or /run is touched, even as
root. The server block includes ``deploy/nginx/meter-locations.conf`` and ``meter-auth.conf``
exactly as shipped; the upstream file is the shipped ``meter-upstream.conf`` with only the
address and the token changed, as a user would edit it. ``FakePortal`` stands for the open-data
portal, which is outside the system: it answers 200 "portal" to everything and records what
reached it.
"""
from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.service import ROOT, free_port, terminate, wait_listening

DEPLOY = ROOT / "deploy" / "nginx"
PORTAL_BODY = b"portal"


def find_nginx() -> str:
    """The nginx binary; a missing one fails the test (``make test`` installs nginx-light)."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                            if Path(p).exists()), None)
    if found is None:
        pytest.fail("nginx is not installed: run make test (it installs nginx-light)")
    return found


def upstream_conf(meter_port: int, token: str) -> str:
    """The shipped meter-upstream.conf, edited as its comments tell a user to: address and token."""
    text = (DEPLOY / "meter-upstream.conf").read_text()
    text, servers = re.subn(r"(?m)^(\s*server\s+)127\.0\.0\.1:8080;", rf"\g<1>127.0.0.1:{meter_port};", text)
    text, tokens = re.subn(r'(?m)^(\s*default\s+)"[^"]*";', rf'\g<1>"{token}";', text)
    assert servers == 1 and tokens == 1, "meter-upstream.conf no longer has the lines a user edits"
    return text


def _temp_paths(prefix: Path) -> str:
    """Temp directories inside ``prefix``: nginx, even as root, must not use /var/lib/nginx."""
    return "\n".join(f"    {kind}_temp_path {prefix}/temp/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


def check_example_site(prefix: Path) -> None:
    """``nginx -t`` on the shipped example-site.conf as docs/gateway.md installs it (Debian layout:
    meter-upstream.conf in conf.d, the site in sites-enabled, both inside ``http {}``)."""
    for sub in ("logs", "temp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    site = (DEPLOY / "example-site.conf").read_text()
    site, includes = re.subn(r"(?m)^(\s*include\s+)/etc/nginx/meter/", rf"\g<1>{DEPLOY}/", site)
    assert includes == 2, "example-site.conf no longer includes both meter snippets"
    (prefix / "site.conf").write_text(site)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ }}
http {{
{_temp_paths(prefix)}
    access_log off;
    include {DEPLOY}/meter-upstream.conf;
    include {prefix}/site.conf;
}}
""")
    out = subprocess.run([find_nginx(), "-t", "-p", f"{prefix}/", "-c", str(conf)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


class _PortalHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, body: bool) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append((self.command, self.path, dict(self.headers)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(PORTAL_BODY)))
        self.end_headers()
        if body:
            self.wfile.write(PORTAL_BODY)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(True)

    do_POST = do_GET  # noqa: N815

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(False)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
        pass


class FakePortal:
    """The open-data portal behind nginx: 200 "portal" to every request, each one recorded."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _PortalHandler)
        self.server.daemon_threads = True
        self.server.seen = []  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-portal", daemon=True)

    @property
    def seen(self) -> list[tuple[str, str, dict[str, str]]]:
        return self.server.seen  # type: ignore[attr-defined]

    def __enter__(self) -> FakePortal:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class Nginx:
    """nginx on a free loopback port: meter upstream on ``meter_port``, the portal behind."""

    def __init__(self, prefix: Path, meter_port: int, token: str, portal_port: int) -> None:
        self.binary = find_nginx()
        self.prefix = prefix
        self.port = free_port()
        self.conf = prefix / "nginx.conf"
        self.error_log = prefix / "logs" / "error.log"
        for sub in ("logs", "temp"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        (prefix / "meter-upstream.conf").write_text(upstream_conf(meter_port, token))
        self.conf.write_text(self._main_conf(portal_port))
        self.proc: subprocess.Popen | None = None

    def _main_conf(self, portal_port: int) -> str:
        p = self.prefix
        temps = _temp_paths(p)
        return f"""
daemon off;
master_process on;
worker_processes 1;
pid {p}/nginx.pid;
error_log {self.error_log} notice;
events {{ worker_connections 512; }}
http {{
    access_log {p}/logs/access.log;
{temps}
    include {p}/meter-upstream.conf;
    upstream portal {{ server 127.0.0.1:{portal_port}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{self.port};
        server_name portal.example *.data.example;
        include {DEPLOY}/meter-locations.conf;
        location / {{
            include {DEPLOY}/meter-auth.conf;
            proxy_pass http://portal;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""

    def check(self) -> None:
        """``nginx -t`` on the generated configuration: a syntax error fails with nginx's words."""
        out = subprocess.run(self._argv("-t"), capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr

    def _argv(self, *extra: str) -> list[str]:
        return [self.binary, "-p", f"{self.prefix}/", "-c", str(self.conf), *extra]

    def start(self, timeout: float = 10.0) -> Nginx:
        self.check()
        proc = self.proc = subprocess.Popen(self._argv(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_listening(proc, self.port, timeout, "nginx", lambda: proc.stderr.read().decode() if proc.stderr else "")
        return self

    def stop(self) -> None:
        terminate(self.proc)  # SIGTERM: fast shutdown
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def get(self, path: str, headers: dict[str, str] | None = None,
            timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        """One request through nginx, as a client of the portal would send it (no proxy in between)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Host": "portal.example", **(headers or {})})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def log_tail(self, chars: int = 3000) -> str:
        return self.error_log.read_text()[-chars:] if self.error_log.exists() else ""
