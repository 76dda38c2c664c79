"""A usage event as ingestion works with it: validated, typed, one shape for every event type.

The edge makes them (``meter/contract/validation.py`` checks raw CloudEvents against the
contract's models) and hands the check to the ingestor as a ``Validate`` function.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple


class UsageEvent(NamedTuple):
    """A NamedTuple, not a frozen dataclass: one is built for every event ingested, and a frozen
    dataclass's ``__init__`` costs five times more (1.7 against 0.3 us)."""

    source: str
    id: str
    type: str
    time: datetime  # aware, UTC
    subject: str | None  # None: a collector's event, to attribute by ``host`` or ``publisher``
    dataset: str = ""
    object: str = ""
    kind: str = ""
    amount: int = 0  # api.call: count; update.bytes and content.bytes: bytes; dataset.records: records
    raw_bytes: int = 0
    check_id: str = ""
    host: str = ""  # api.call without subject: the host the portal was called on
    publisher: str = ""  # dataset.records / .deleted / .metadata without subject: the portal's publisher
    metas: Mapping[str, Any] | None = None  # dataset.metadata: the portal's metas
    last_update: str = ""  # dataset.metadata: when its data last changed, as the portal says


# raw CloudEvents and the time they were received -> every event valid, or InvalidEvents / PayloadTooLarge
Validate = Callable[[list[Any], datetime], list[UsageEvent]]
