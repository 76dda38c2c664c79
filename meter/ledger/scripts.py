"""Lua scripts, loaded once from ``lua/`` and registered with redis-py.

redis-py's ``Script`` sends EVALSHA and, on NOSCRIPT (a restarted or flushed Redis), loads the
script and retries; ``tests/test_ledger.py`` covers that path. A line ``--!include NAME`` is
replaced by ``lua/NAME.lua``, so a rule two scripts share (``owner.lua``) is written once.
"""
from __future__ import annotations

import re
from functools import cache
from importlib import resources

_INCLUDE = re.compile(r"(?m)^--!include (\w+)$")


@cache
def source(name: str) -> str:
    text = resources.files("meter.ledger").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: source(m.group(1)), text)
