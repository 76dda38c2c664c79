"""MeterClient: POSTs batches of events to ``/v1/events`` until the meter answers 202.

While the meter is away (connection refused, timeout, 5xx, 429/503) it retries the same batch
with exponential backoff, so no event is lost, and the meter's dedup on (source, id) keeps a
batch sent twice from counting twice. A 400 names the refused events: those are dropped (the
caller counts them as skipped) and the rest is sent again. 401, 403 and the like are fatal: no
retry can fix a wrong token.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from meter.core.errors import MeterError

log = logging.getLogger("meter.collectors")
BATCH = "application/cloudevents-batch+json"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class CollectorError(MeterError):
    """The meter refused the collector for good (a wrong token or URL): retrying cannot help."""

    type = "collector"


class Stopped(Exception):
    """SIGTERM arrived while a batch was waiting to be retried: it was not accepted."""


@dataclass(frozen=True)
class Sent:
    accepted: int
    duplicates: int
    refused: int  # events the meter called invalid (counted as skipped)


@dataclass
class Backoff:
    first_s: float = 0.5
    max_s: float = 10.0  # a meter back from a restart is used again within seconds

    def delays(self):
        delay = self.first_s
        while True:
            yield delay
            delay = min(delay * 2, self.max_s)


class MeterClient:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str, stop: asyncio.Event,
                 backoff: Backoff | None = None) -> None:
        self.session = session
        self.endpoint = url.rstrip("/") + "/v1/events"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": BATCH}
        self.stop = stop
        self.backoff = backoff or Backoff()

    async def send(self, events: list[dict[str, Any]]) -> Sent:
        """Until the meter took the batch (202); raises ``Stopped`` if told to stop while waiting."""
        refused = 0
        while events:
            answer = await self._post_until_answered(orjson.dumps(events))
            if "accepted" in answer:
                return Sent(answer["accepted"], answer["duplicates"], refused)
            bad = _refused_indexes(answer, len(events))
            refused += len(bad)
            events = [ev for i, ev in enumerate(events) if i not in bad]
        return Sent(0, 0, refused)

    async def _post_until_answered(self, body: bytes) -> dict[str, Any]:
        for delay in self.backoff.delays():
            try:
                async with self.session.post(self.endpoint, data=body, headers=self.headers) as resp:
                    answer = await self._answer(resp)
                    if answer is not None:
                        return answer
                    reason = f"HTTP {resp.status}"
                    delay = max(delay, _retry_after(resp))
            except (TimeoutError, aiohttp.ClientError) as exc:
                reason = f"{exc.__class__.__name__}: {exc}"
            log.warning("meter unavailable, retrying", extra={"reason": reason, "retry_in_s": delay})
            await self._sleep(delay)
        raise AssertionError("unreachable")

    async def _answer(self, resp: aiohttp.ClientResponse) -> dict[str, Any] | None:
        """The answer to act on, or None to retry."""
        if resp.status == 202:
            return orjson.loads(await resp.read())
        if resp.status in RETRY_STATUSES:
            return None
        body = await resp.read()
        if resp.status == 400:
            try:
                answer = orjson.loads(body)
            except orjson.JSONDecodeError:
                answer = {}
            if answer.get("error", {}).get("type") == "invalid_events":
                return answer
        raise CollectorError(f"the meter refused the events: HTTP {resp.status} {body[:300].decode(errors='replace')}")

    async def _sleep(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self.stop.wait(), delay)
        except TimeoutError:
            return
        raise Stopped()


def _retry_after(resp: aiohttp.ClientResponse) -> float:
    try:
        return min(float(resp.headers.get("Retry-After", "0")), 60.0)
    except ValueError:
        return 0.0


def _refused_indexes(answer: dict[str, Any], n: int) -> set[int]:
    details = answer.get("error", {}).get("details") or []
    bad = {d.get("index") for d in details if isinstance(d.get("index"), int) and 0 <= d["index"] < n}
    if not bad:  # a refusal of the whole batch (say, too large) that names no event: nothing to drop
        raise CollectorError(f"the meter refused the batch: {answer.get('error', {}).get('message', answer)}")
    return bad  # type: ignore[return-value]
