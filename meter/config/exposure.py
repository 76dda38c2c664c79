"""Demo tokens on loopback only (DESIGN §4 "Limits and trust").

The tokens of ``examples/`` are printed in the README: anyone may know them. A service listening on
a non-loopback address refuses to start while any of them is configured. They are known here by
their SHA-256, so a pool file that names one by ``sha256`` is caught too.
"""
from __future__ import annotations

import hashlib
import ipaddress

from meter.config.settings import PoolConfig, Settings
from meter.core.errors import ConfigError

DEMO_TOKENS = ("demo-admin-token", "demo-gateway-token", "demo-producer-token", "demo-reader-token")
DEMO_DIGESTS = frozenset(hashlib.sha256(t.encode()).hexdigest() for t in DEMO_TOKENS)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; an empty host or 0.0.0.0 listens everywhere."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost: it may resolve to anything


def refuse_demo_tokens(settings: Settings, config: PoolConfig) -> None:
    if is_loopback(settings.http_host):
        return
    demo = [i for i, entry in enumerate(config.tokens) if entry.digest() in DEMO_DIGESTS]
    if demo:
        where = ", ".join(f"tokens[{i}]" for i in demo)
        raise ConfigError(
            f"{settings.config}: {where} is a demo token (examples/), which anyone may know; the service "
            f"listens on {settings.http_host!r}, not loopback: set real tokens (openssl rand -hex 32), or "
            "METER_HTTP_HOST=127.0.0.1")
