"""Alerts: check every signatory's and the pool's use against allotments and caps, fire each
alert once, and deliver it by email and webhook through the outbox.

The check reads the current counters and allotments from Redis (``meter/ledger/counters.py``,
``allotments.py``; no ClickHouse, no hot path):
flows for the current month (``api_calls``) and day (``update_bytes``), stocks with the month
as their period. ``dataset_records`` is a per-dataset cap, not a share: it gets no alert here.
Each alert is recorded (``meter/ledger/alerts_store.py``) before it is delivered, so it fires once
per (type, scope, signatory, metric, period, threshold) across restarts and processes.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import orjson

from meter.alerts import rules
from meter.config.settings import FLOW_METRICS, PoolConfig
from meter.core.clock import Clock
from meter.core.periods import Period, day_of, month_of
from meter.ledger.alerts_store import AlertStore
from meter.ledger.allotments import AllotmentStore
from meter.ledger.counters import CounterStore
from meter.mail.outbox import Entry, Outbox
from meter.mail.smtp import MESSAGE_POLICY, Mail
from meter.observability.telemetry import Telemetry
from meter.registry.ids import UNATTRIBUTED
from meter.reports.words import Words

log = logging.getLogger("meter.alerts")
CHECKED = ("api_calls", "update_bytes", "records", "raw_bytes", "content_bytes")
SUBJECTS = {
    "fr": {"threshold": "Alerte quota – {name} – {metric} à {percent}",
           "forecast": "Alerte quota – {name} – {metric} : épuisement prévu le {date}"},
    "en": {"threshold": "Quota alert – {name} – {metric} at {percent}",
           "forecast": "Quota alert – {name} – {metric}: expected to run out on {date}"},
}
BODIES = {
    "fr": {"threshold": "{who} a utilisé {used} {metric} sur {limit} pour la période {period}, soit {percent}.",
           "forecast": "Au rythme actuel, {who} aura utilisé toute sa limite de {limit} {metric} le {date}, "
                       "avant la fin de la période {period}. Utilisé à ce jour : {used}.",
           "pool": "L'ensemble des partenaires", "end": "Ce message est envoyé automatiquement par le service "
                                                       "de suivi des quotas du {pool}."},
    "en": {"threshold": "{who} used {used} {metric} out of {limit} for the period {period}, that is {percent}.",
           "forecast": "At the current pace, {who} will have used its whole limit of {limit} {metric} on {date}, "
                       "before the end of the period {period}. Used so far: {used}.",
           "pool": "All partners together", "end": "This message is sent automatically by the quota service of "
                                                   "the {pool}."},
}


class Alerts:
    def __init__(self, store: AlertStore, counters: CounterStore, allotments: AllotmentStore, registry: Any,
                 config: PoolConfig, clock: Clock, outbox: Outbox, mail: Mail, telemetry: Telemetry) -> None:
        self.store, self.counters, self.allotments = store, counters, allotments
        self.registry, self.config = registry, config
        self.clock, self.outbox, self.mail, self.telemetry = clock, outbox, mail, telemetry
        self.section = config.alerts

    # checking

    async def check(self) -> int:
        """Fire every alert now due; returns how many fired."""
        now = self.clock.now()
        records = {r["id"]: r for r in await self.registry.list()}
        fired = 0
        for metric in CHECKED:
            period = day_of(now, self.config.tz) if metric == "update_bytes" else month_of(now, self.config.tz)
            used = await (self.counters.flow(metric, period.label) if metric in FLOW_METRICS
                          else self.counters.stock(metric))
            allot = await self.allotments.in_force(metric, period.label)
            fired += await self._check_scope(metric, period, now, None, used.get("*", 0), self.config.caps.get(metric))
            for sig, limit in (allot or {}).items():
                if sig != UNATTRIBUTED and sig in records:
                    fired += await self._check_scope(metric, period, now, records[sig], used.get(sig, 0), limit)
        if fired:
            await self.outbox.deliver_due()
        return fired

    async def _check_scope(self, metric: str, period: Period, now: datetime, record: dict[str, Any] | None,
                           used: int, limit: int) -> int:
        fired = 0
        for threshold in rules.crossed(used, limit, self.section.thresholds):
            fired += await self._fire("threshold", metric, period, now, record, used, limit, threshold=threshold)
        if self.section.forecast and metric in FLOW_METRICS:
            runs_out = rules.exhaustion(used, limit, period, now)
            if runs_out is not None:
                fired += await self._fire("forecast", metric, period, now, record, used, limit,
                                          exhaustion_date=runs_out.isoformat())
        return fired

    async def _fire(self, kind: str, metric: str, period: Period, now: datetime, record: dict[str, Any] | None,
                    used: int, limit: int, threshold: int | None = None, exhaustion_date: str | None = None) -> int:
        scope, sig = ("pool", None) if record is None else ("signatory", record["id"])
        key = f"{kind}/{scope}/{sig or '-'}/{metric}/{period.label}/{threshold or ''}"
        alert_id = "alert_" + hashlib.sha256(f"{self.config.pool.id}/{key}".encode()).hexdigest()[:24]
        alert: dict[str, Any] = {"id": alert_id, "type": kind, "scope": scope, "signatory": sig, "metric": metric,
                                 "period": period.label, "used": used, "limit": limit,
                                 "at": now.astimezone(self.config.tz).isoformat()}
        if threshold is not None:
            alert["threshold"] = threshold
        if exhaustion_date is not None:
            alert["exhaustion_date"] = exhaustion_date
        recipients = list(self.config.reports.admins) if record is None else list(record.get("emails") or [])
        alert["email_id"] = f"<{alert_id}@{self.mail.sender.rpartition('@')[2] or 'localhost'}>" \
            if recipients and self.mail.enabled else None
        alert["webhook_id"] = alert_id if self.section.webhook_url else None
        alert["no_email"] = None if alert["email_id"] else ("disabled" if not self.mail.enabled else "no_recipient")
        month = period.label[:7]
        if not await self.store.record(month, key, alert):
            return 0  # fired before: once per key, across restarts
        self.telemetry.alerts_fired.labels(kind, scope).inc()
        log.info("alert fired", extra={"alert": key})
        await self._deliver(alert, record, recipients)
        return 1

    async def _deliver(self, alert: dict[str, Any], record: dict[str, Any] | None, recipients: list[str]) -> None:
        public = _public(alert)
        if alert["email_id"]:
            msg = self._email(public, record, recipients, alert["email_id"])
            await self.outbox.put(Entry(alert["email_id"], "mail", msg.as_bytes(),
                                        {"sender": self.mail.sender, "recipients": recipients, "ref": "alert"}))
        if alert["webhook_id"]:
            body = orjson.dumps({"type": f"quota.{alert['type']}", "timestamp": alert["at"], "data": public})
            await self.outbox.put(Entry(alert["webhook_id"], "webhook", body,
                                        {"url": self.section.webhook_url, "ref": "alert"}))

    def _email(self, alert: dict[str, Any], record: dict[str, Any] | None, recipients: list[str],
               msg_id: str) -> EmailMessage:
        lang = self.config.reports.language
        w, body = Words(lang), BODIES[lang]
        name = self.config.pool.name if record is None else record.get("name") or record["id"]
        values = {"name": name, "metric": w.metric(alert["metric"]), "percent": w.percent(alert.get("threshold")),
                  "date": w.day(date.fromisoformat(alert["exhaustion_date"])) if alert.get("exhaustion_date") else "",
                  "who": body["pool"] if record is None else name, "used": w.amount(alert["metric"], alert["used"]),
                  "limit": w.amount(alert["metric"], alert["limit"]), "period": alert["period"]}
        msg = EmailMessage(policy=MESSAGE_POLICY)
        msg["From"], msg["To"], msg["Message-ID"] = self.mail.sender, ", ".join(recipients), msg_id
        msg["Subject"] = SUBJECTS[lang][alert["type"]].format(**values)
        msg["Date"] = format_datetime(self.clock.now())
        msg["X-Meter-Alert"] = f"{self.config.pool.id}/{alert['id']}"
        msg.set_content(body[alert["type"]].format(**values) + "\n\n" + body["end"].format(pool=self.config.pool.name))
        return msg

    # listing

    async def list(self, period: Period, signatory: str | None, bound: str | None) -> list[dict[str, Any]]:
        """Alerts of ``period`` (a month includes its days'), newest last; a bound reader sees its own."""
        out = []
        for alert in sorted(await self.store.of_month(period.label[:7]), key=lambda a: (a["at"], a["id"])):
            if period.kind == "day" and alert["period"] != period.label:
                continue
            if (bound is not None and alert["signatory"] != bound) or (signatory and alert["signatory"] != signatory):
                continue
            delivered = {"email": await self._delivery(alert["email_id"], alert["no_email"]),
                         "webhook": await self._delivery(alert["webhook_id"], "none")}
            out.append({**_public(alert), "delivered": delivered})
        return out

    async def _delivery(self, entry_id: str | None, absent: str) -> str:
        if entry_id is None:
            return absent
        found = await self.outbox.status(entry_id)
        return "pending" if found is None else found["status"]


def _public(alert: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in alert.items() if k not in ("email_id", "webhook_id", "no_email")}
