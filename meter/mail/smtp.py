"""SmtpSender: one message to an SMTP server with aiosmtplib (STARTTLS when offered, smtps://).

``METER_SMTP_URL`` is ``smtp://user:password@host:587`` or ``smtps://...`` (implicit TLS). The
driver's errors become ``MailError`` here, so the outbox never sees an aiosmtplib exception.
"""
from __future__ import annotations

import email.policy
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiosmtplib

from meter.core.errors import ConfigError, MeterError


class DeliveryError(MeterError):
    """A message or webhook could not be delivered this time; the outbox retries it."""

    type = "delivery_error"

# DESIGN §8: at least 60 s for each of the server's replies (RFC 5321 allows the answer to DATA up
# to 10 minutes); a slow server is slow, not failed. The whole attempt is bounded by the outbox
# (METER_MAIL_ATTEMPT_S).
REPLY_TIMEOUT_S = 60
# The policy of every message meter writes: headers folded only past 998 characters (SMTP's line
# limit). Python's folder splits a non-ASCII header into RFC 2047 encoded words at a space and
# drops that space ("… API à 1 %" read back as "… APIà 1 %"); a subject (a name of at most 200
# characters) fits on one line, so it is never folded.
MESSAGE_POLICY = email.policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class Mail:
    """Where mail comes from; ``enabled`` is false when METER_SMTP_URL is empty (nothing is sent)."""

    enabled: bool
    sender: str


class MailError(DeliveryError):
    """The mail server refused a message or could not be reached; the outbox retries it."""

    type = "mail_error"


class SmtpSender:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("METER_SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465")
        self.host = parts.hostname
        self.implicit_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """``raw`` is the message as the outbox stored it (headers included)."""
        try:
            # start_tls=None: STARTTLS when the server offers it, plain otherwise (a loopback catcher)
            await aiosmtplib.send(raw, sender=sender, recipients=recipients, hostname=self.host, port=self.port,
                                  username=self.username, password=self.password, use_tls=self.implicit_tls,
                                  start_tls=None if not self.implicit_tls else False, timeout=REPLY_TIMEOUT_S)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(f"{exc.__class__.__name__}: {exc}") from None


def smtp_transport(sender: SmtpSender):  # -> outbox.Transport
    """The outbox's "mail" delivery: the stored message to its recorded recipients."""
    async def deliver(entry: dict) -> None:
        meta = entry["meta"]
        await sender.send(entry["payload"], meta["sender"], meta["recipients"])

    return deliver
