"""Webhooks signed as the Standard Webhooks specification says.

Headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``:
``v1,`` + base64 of HMAC-SHA256 over ``{id}.{timestamp}.{body}``, keyed with the base64-decoded
part of the secret after ``whsec_``. Each attempt is signed at its own time, since receivers
refuse old timestamps; the id stays the same, so a receiver can drop a repeat.

Limits (DESIGN §4): the key is at least 24 bytes (an empty one lets anyone sign); a
redirect is not followed (a receiver could bounce the body and its signature to an internal
address): a 3xx is a failed delivery, retried; one HTTP session serves every delivery.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import aiohttp

from meter.config.settings import webhook_key_problem
from meter.core.errors import ConfigError
from meter.mail.smtp import DeliveryError

TIMEOUT_S = 10


def secret_key(secret: str) -> bytes:
    if problem := webhook_key_problem(secret):
        raise ConfigError(f"[alerts] webhook_secret: {problem}")
    return base64.b64decode(secret.removeprefix("whsec_"))


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(key: bytes, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature(key, msg_id, ts, body),
            "content-type": "application/json"}


class WebhookTransport:
    """The outbox's "webhook" delivery: POST the stored body to the recorded URL, signed now."""

    def __init__(self, secret: str) -> None:
        self.key = secret_key(secret)
        self._session: aiohttp.ClientSession | None = None  # made in the loop, at the first delivery

    async def __call__(self, entry: dict[str, Any]) -> None:
        body = entry["payload"]
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        try:
            signed = headers(self.key, entry["id"], body)
            async with self._session.post(entry["meta"]["url"], data=body, headers=signed,
                                          allow_redirects=False) as resp:
                if resp.status >= 300:  # a redirect included: never followed
                    raise DeliveryError(f"the webhook answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{exc.__class__.__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

