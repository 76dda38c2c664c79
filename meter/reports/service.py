"""Reports: read one, list a month's send status, queue a month's sending, and send what is queued.

Sending once (DESIGN §8). Queueing writes each report's send record (send number, Message-ID,
recipients) and adds it to a to-do set; the sender renders each to-do report into the outbox,
which delivers it and records the outcome. A crash at any point leaves either the to-do entry or
the outbox entry behind, so a restart sends all that was not sent and nothing that was (a
message the server took just before the crash goes again with the same Message-ID).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from meter.config.settings import PoolConfig
from meter.core.clock import Clock
from meter.core.errors import Conflict, Forbidden, MeterError, NotFound
from meter.core.periods import Period
from meter.ledger.allotments import AllotmentStore
from meter.ledger.locks import Locks
from meter.ledger.report_records import ReportRecords
from meter.ledger.stream import RedisStream
from meter.mail.outbox import Entry, Outbox
from meter.mail.smtp import Mail
from meter.registry.service import Registry
from meter.reports.document import Context
from meter.reports.figures import MonthFigures, Projection, read_month
from meter.reports.lines import POOL
from meter.reports.message import message_id, report_message
from meter.reports.render import Rendered, render
from meter.store.clickhouse import ClickHouseStore

log = logging.getLogger("meter.reports")
QUEUE_LOCK_S = 60  # queueing a month's sends: one request at a time
PageLink = Callable[[str, datetime], Awaitable[str | None]]  # (signatory or "pool", valid until) -> its URL


def next_send(period: Period, config: PoolConfig) -> datetime:
    """When the report after ``period``'s is due: the month after next, on the send day and time."""
    month = period.next().next().first_day
    hour, minute = (int(part) for part in config.reports.send_time.split(":"))
    return datetime(month.year, month.month, config.reports.send_day, hour, minute, tzinfo=config.tz)


def active_in(record: dict[str, Any], period: Period) -> bool:
    """Active for at least one day of the month (joined before its end, not left before its start)."""
    left = record.get("left_at")
    return date.fromisoformat(record["joined_at"]) < period.end_day and \
        (left is None or date.fromisoformat(left) > period.first_day)


class Reports:
    def __init__(self, records: ReportRecords, allotments: AllotmentStore, locks: Locks, stream: RedisStream,
                 store: ClickHouseStore, registry: Registry, config: PoolConfig, clock: Clock, outbox: Outbox,
                 mail: Mail, project: Projection | None = None,
                 page_link: PageLink | None = None) -> None:
        self.records, self.allotments, self.locks, self.stream = records, allotments, locks, stream
        self.store, self.registry = store, registry
        self.page_link = page_link  # mints the link to a partner's (or the pool's) page that a mailed report carries
        self.config, self.clock, self.outbox, self.mail, self.project = config, clock, outbox, mail, project
        self.pool = config.pool.id
        self._sending: asyncio.Task | None = None

    # reading

    async def partners(self, period: Period) -> dict[str, dict[str, Any]]:
        """Every signatory active in ``period``, by id."""
        return {r["id"]: r for r in await self.registry.list() if active_in(r, period)}

    async def figures(self, period: Period, project: bool = True, only: str | None = None) -> MonthFigures:
        """The month's figures; ``project``: with next month's allocation (the reports say it); ``only``:
        one signatory's datasets' compliance, not every partner's (its page)."""
        return await read_month(self.store, self.pool, period, self.clock.now(), self.project if project else None,
                                self._recent, only)

    async def _recent(self, labels: list[str]) -> dict[str, dict[str, Any]]:
        """The allocation documents Redis still keeps for ``labels`` (one MGET)."""
        return await self.allotments.documents(labels)

    async def context(self, period: Period, sig: str, partners: dict[str, dict[str, Any]]) -> Context:
        names = {sid: r.get("name") or sid for sid, r in partners.items()}
        if sig == POOL:
            name = self.config.pool.name
        else:
            record = partners.get(sig) or await self.registry.get_or_none(sig)
            if record is None:
                raise NotFound(f"no signatory {sig!r}")
            name = record.get("name") or sig
        return Context(sig, name, self.config.pool.name, names, self.config.caps, self.config.reports.language)

    async def report(self, period: Period, sig: str) -> Rendered:
        partners = await self.partners(period)
        ctx = await self.context(period, sig, partners)
        figures = await self.figures(period)
        return await asyncio.to_thread(render, figures, ctx)  # matplotlib: off the event loop

    def recipients(self, sig: str, partners: dict[str, dict[str, Any]]) -> list[str]:
        if sig == POOL:
            return list(self.config.reports.admins)
        return list(partners.get(sig, {}).get("emails") or [])

    async def statuses(self, period: Period) -> dict[str, Any]:
        partners = await self.partners(period)
        records = await self.records.of_month(period.label)
        rows = [await self._status(sig, records.get(sig), self.recipients(sig, partners))
                for sig in [*sorted(partners), POOL]]
        return {"pool": self.pool, "period": period.label, "reports": rows}

    async def _status(self, sig: str, record: dict[str, Any] | None, recipients: list[str]) -> dict[str, Any]:
        row: dict[str, Any] = {"signatory": sig, "status": "pending", "recipients": recipients}
        if not recipients:
            return {**row, "status": "no_recipient"}
        if record is None or "message_id" not in record:
            return row
        row["message_id"] = record["message_id"]
        found = await self.outbox.status(record["message_id"])
        if found is not None and found["status"] == "sent":
            row["status"] = "sent"
            row["sent_at"] = _iso(found["sent_at"], self.config)
        elif found is not None and found["status"] == "failed":
            row.update(status="failed", error=found["error"])
        return row

    # queueing

    async def queue(self, period: Period, sigs: list[str] | None, resend: bool) -> dict[str, int]:
        """Queue a finished month's reports (all, the pool's included, or ``sigs``); {"queued", "skipped"}."""
        if not self.mail.enabled:
            raise Conflict("mail is not configured (METER_SMTP_URL is empty): reports can be read but not sent")
        if self.clock.now() < period.end:
            raise Conflict(f"{period.label} is not over yet: only a finished month's reports are sent")
        partners = await self.partners(period)
        targets = [*sorted(partners), POOL] if sigs is None else list(dict.fromkeys(sigs))
        unknown = [s for s in targets if s != POOL and s not in partners]
        if unknown:
            raise NotFound(f"no signatory active in {period.label}: {', '.join(unknown)}")
        queued = skipped = 0
        async with self.locks.hold(f"reports:{period.label}", QUEUE_LOCK_S, wait_s=10) as held:
            if not held.acquired:
                raise Conflict("another send of this month is being queued; try again in a moment")
            records = await self.records.of_month(period.label)
            for sig in targets:
                if await self._queue_one(period.label, sig, records.get(sig), self.recipients(sig, partners), resend):
                    queued += 1
                else:
                    skipped += 1
        return {"queued": queued, "skipped": skipped}

    async def _queue_one(self, month: str, sig: str, record: dict[str, Any] | None, recipients: list[str],
                         resend: bool) -> bool:
        if not recipients:
            await self.records.set(month, sig, {"status": "no_recipient"})
            return False
        if record is not None and "message_id" in record and not resend:
            found = await self.outbox.status(record["message_id"])
            if found is not None and found["status"] == "sent":
                return False  # each report once
            if found is not None:
                await self.outbox.retry_now(record["message_id"])  # failed: retry now, not at its backoff
            await self.records.queue(month, sig)
            return True
        send_no = int(record.get("send_no", 0)) + 1 if record and "message_id" in record else 1
        new = {"send_no": send_no, "message_id": message_id(self.pool, month, sig, send_no, self.mail.sender),
               "recipients": recipients}
        await self.records.queue(month, sig, new)
        return True

    # sending

    def kick(self) -> None:
        """Send what is queued in the background, now (one task at a time in this process)."""
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send_logged(), name="reports-send")

    async def _send_logged(self) -> None:
        try:
            await self.send_queued()
        except MeterError as exc:  # Redis or ClickHouse away: the scheduled job tries again
            log.warning("sending reports paused: %s", exc.message)
        except Exception:
            log.exception("sending reports failed; the scheduled job tries again")

    async def send_queued(self) -> int:
        """Render every to-do report into the outbox, then deliver what is due; returns reports moved."""
        moved = 0
        cache: dict[str, Any] = {}
        for month, sig in await self.records.todo():
            try:
                moved += await self._to_outbox(month, sig, cache)
            except NotFound:  # removed from the registry since: nothing to send
                await self.records.done(month, sig)
            await self.outbox.deliver_due()  # deliver as we go: a long month is not sent all at the end
        await self.outbox.deliver_due()
        return moved

    async def _to_outbox(self, month: str, sig: str, cache: dict[str, Any]) -> int:
        record = await self.records.get(month, sig)
        if "message_id" not in record or await self.outbox.status(record["message_id"]) is not None:
            await self.records.done(month, sig)
            return 0
        period = Period("month", date.fromisoformat(month + "-01"), self.config.tz)
        if month not in cache:
            cache[month] = (await self.partners(period), await self.figures(period))
        partners, figures = cache[month]
        ctx = await self.context(period, sig, partners)
        if self.page_link is not None:  # valid until 7 days after the next report (DESIGN §8)
            until = max(next_send(period, self.config) + timedelta(days=7), self.clock.now() + timedelta(days=7))
            ctx.page_url = await self.page_link(sig, until)
            ctx.page_until = until.astimezone(self.config.tz).date() if ctx.page_url else None
        msg = await asyncio.to_thread(self._message, figures, ctx, record)
        entry = Entry(record["message_id"], "mail", msg, {"sender": self.mail.sender, "recipients":
                                                           record["recipients"], "ref": "report"})
        await self.outbox.put(entry)
        await self.records.done(month, sig)
        return 1

    def _message(self, figures: MonthFigures, ctx: Context, record: dict[str, Any]) -> bytes:
        rendered = render(figures, ctx)
        return report_message(rendered, self.pool, self.mail.sender, record["recipients"],
                              record["message_id"]).as_bytes()

    async def wait_idle(self) -> None:
        if self._sending is not None:
            await asyncio.gather(self._sending, return_exceptions=True)

    async def stop(self) -> None:
        """At shutdown: stop sending; what is left stays queued for the next start."""
        if self._sending is not None and not self._sending.done():
            self._sending.cancel()
            await asyncio.gather(self._sending, return_exceptions=True)


def _iso(ms: int | None, config: PoolConfig) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(config.tz).isoformat()


def require_readable(principal_signatory: str | None, sig: str) -> None:
    """A bound reader reads its own report only (not another's, nor the pool's)."""
    if principal_signatory is not None and principal_signatory != sig:
        raise Forbidden(f"this token is bound to signatory {principal_signatory!r}")
