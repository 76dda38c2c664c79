"""A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts, parsed.

``refuse`` makes it answer 451 (try again later) to every message; ``delay_s`` makes it slow, so
a test can kill a sender mid-way.
"""
from __future__ import annotations

import email
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller

from tests.service import free_port


@dataclass
class Received:
    recipients: list[str]
    message: EmailMessage


@dataclass
class Catcher:
    refuse: bool = False
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            return "451 4.3.0 mailbox busy, try again later"
        if self.delay_s:
            time.sleep(self.delay_s)  # the server's own thread: a slow disk, say
        msg = email.message_from_bytes(envelope.content, policy=default)
        self.received.append(Received(list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.recipients]


class SmtpServer:
    def __init__(self) -> None:
        self.catcher = Catcher()
        self.port = free_port()
        self.controller = Controller(self.catcher, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
