"""The real service in a subprocess (``python -m meter serve``), as a user runs it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_sync

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(proc: subprocess.Popen, port: int, timeout: float, name: str,
                   said: Callable[[], str]) -> None:
    """Until ``proc`` accepts connections on ``port``; it exiting first, or the timeout, raises
    (``said``, read only once it has exited, tells why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}: {said()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    terminate(proc)
    raise RuntimeError(f"{name} did not listen on {port} in {timeout} s")


def real_clock_env() -> dict[str, str]:
    """This environment without libfaketime (``make test-at``): Redis keeps the machine's clock,
    as the shared one does (redis-server does not even start under libfaketime)."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith(("FAKETIME", "DONT_FAKE"))}


def terminate(proc: subprocess.Popen | None) -> None:
    """SIGTERM (a graceful stop), then SIGKILL if it takes more than 10 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Service:
    def __init__(self, pool_file: Path, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / "service.log"
        self.env = {**os.environ, "METER_CONFIG": str(pool_file), "METER_DATA_DIR": str(data_dir),
                    "METER_HTTP_PORT": str(self.port), "METER_REDIS_URL": "redis://127.0.0.1:6379/0", **env}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0, until: str = "/readyz") -> Service:
        """Start, and wait until ``until`` answers 200 (``/healthz``: serving, ready or not)."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "meter", "serve"], cwd=ROOT, env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if self.request("GET", until)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"service not ready in {timeout} s: {self.log.read_text()[-2000:]}")

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, dict, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def json(self, method: str, path: str, **kw) -> tuple[int, dict]:
        status, _, body = self.request(method, path, **kw)
        return status, json.loads(body) if body else {}

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


class PrivateRedis:
    """A redis-server of this test's own (the shared one serves other runs). By default with no
    persistence, so a restart comes back empty, as a flushed or replaced Redis would; with
    ``durable``, every write is fsynced to the append-only file before Redis answers (the compose
    file's setting), and a restart on the same directory comes back with all of it."""

    def __init__(self, workdir: Path, durable: bool = False, unix: bool = False) -> None:
        self.binary = shutil.which("redis-server") or pytest.fail("no redis-server: run make test")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.aof = ["--appendonly", "yes", "--appendfsync", "always"] if durable else ["--appendonly", "no"]
        # with ``unix``, a Unix socket too (a short path of its own: a socket's path holds 107 bytes)
        self.socket_dir = Path(tempfile.mkdtemp(prefix="meter-redis-")) if unix else None
        self.unix_url = f"unix://{self.socket_dir}/redis.sock" if self.socket_dir else None
        self.proc: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        unix = ["--unixsocket", f"{self.socket_dir}/redis.sock", "--unixsocketperm", "700"] if self.socket_dir else []
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *self.aof, *unix,
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=real_clock_env())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.cli("PING") is True:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on {self.port}")

    def cli(self, *args: str) -> object:
        """One command's reply, or None when the server does not answer."""
        client = redis_sync.Redis(port=self.port, socket_connect_timeout=0.5, decode_responses=True)
        try:
            return client.execute_command(*args)
        except redis_sync.exceptions.ConnectionError:
            return None
        finally:
            client.close()

    def kill9(self) -> None:
        """SIGKILL: no shutdown, no last save; what Redis keeps is what it had on disk."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def shutdown(self) -> None:
        assert self.proc is not None
        self.cli("SHUTDOWN", "NOSAVE")  # the connection drops as the server exits
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()
