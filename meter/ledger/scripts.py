"""Lua scripts, loaded once from ``lua/`` and registered with redis-py.

redis-py's ``Script`` sends EVALSHA and, on NOSCRIPT (a restarted or flushed Redis), loads the
script and retries; ``tests/test_ledger.py`` covers that path.
"""
from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def source(name: str) -> str:
    return resources.files("meter.ledger").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
