"""The ODS catalogue poll as the service's own scheduled job (``[collectors.ods] portal``).

The same poll as ``meter collect ods``, but the events go straight to the service's ingestor
(validation, attribution, dedup) instead of over HTTP, so the job needs no token. A poll that
fails changes nothing and is logged; the next one tries again.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp

from meter.collectors.ods import CatalogueError, OdsState, poll_once
from meter.core.clock import Clock
from meter.ingest.ingestor import Ingestor

log = logging.getLogger("meter.collectors")


class OdsPoll:
    def __init__(self, portal: str, apikey: str, state_dir: Path, ingestor: Ingestor, clock: Clock) -> None:
        self.portal = portal
        self.apikey = apikey
        self.state = OdsState(state_dir / "ods.json", portal)
        self.ingestor = ingestor
        self.clock = clock

    async def _sink(self, events: list[dict[str, Any]]) -> tuple[int, int, int]:
        result = await self.ingestor.ingest(events)  # in-process: an invalid batch fails the poll whole
        return result.accepted, result.duplicates, 0

    async def __call__(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            try:
                result = await poll_once(session, self.portal, self.apikey, self.state, self._sink, self.clock.now())
            except CatalogueError as exc:
                log.warning("ods poll failed; nothing changed", extra={"portal": self.portal, "reason": exc.message})
                return
        log.info("ods poll", extra={"portal": self.portal, "datasets": result.datasets, "deleted": result.deleted,
                                    "accepted": result.accepted, "duplicates": result.duplicates})
