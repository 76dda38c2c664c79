"""Webhooks signed as the Standard Webhooks specification says.

Headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``:
``v1,`` + base64 of HMAC-SHA256 over ``{id}.{timestamp}.{body}``, keyed with the base64-decoded
part of the secret after ``whsec_``. Each attempt is signed at its own time, since receivers
refuse old timestamps; the id stays the same, so a receiver can drop a repeat.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from meter.core.errors import ConfigError
from meter.mail.smtp import DeliveryError

TIMEOUT_S = 10


def secret_key(secret: str) -> bytes:
    if not secret.startswith("whsec_"):
        raise ConfigError("[alerts] webhook_secret must be 'whsec_' followed by a base64 key")
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except ValueError:
        raise ConfigError("[alerts] webhook_secret: the part after 'whsec_' is not base64") from None


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(key: bytes, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature(key, msg_id, ts, body),
            "content-type": "application/json"}


def webhook_transport(secret: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """The outbox's "webhook" delivery: POST the stored body to the recorded URL, signed now."""
    key = secret_key(secret)

    async def deliver(entry: dict[str, Any]) -> None:
        body = entry["payload"]
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as session:
                signed = headers(key, entry["id"], body)
                async with session.post(entry["meta"]["url"], data=body, headers=signed) as resp:
                    if resp.status >= 300:
                        raise DeliveryError(f"the webhook answered {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{exc.__class__.__name__}: {exc}") from None

    return deliver
