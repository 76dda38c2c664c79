"""The one retry after ``LEDGER_LOST``: rebuild the ledger from ClickHouse, then try once more.

Redis that lost the ledger (flushed, failed over) refuses every script (``LedgerLost``) rather
than count into, or decide from, an empty ledger. Ingestion and decisions both go through here.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from meter.core.errors import LedgerLost

T = TypeVar("T")
Rebuild = Callable[[], Awaitable[None]]


async def once_rebuilt(call: Callable[[], Awaitable[T]], rebuild: Rebuild | None) -> T:
    """``call()``; if the ledger was lost, ``rebuild()`` and ``call()`` again (no rebuild: raise)."""
    try:
        return await call()
    except LedgerLost:
        if rebuild is None:
            raise
        await rebuild()
        return await call()
