"""Typed application keys: every object ``create_app`` builds, one key each."""
from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from meter.alerts.service import Alerts
    from meter.allocation.service import Allocator
    from meter.config.settings import PoolConfig, Settings
    from meter.core.clock import Clock
    from meter.decision.engine import Decider
    from meter.decision.reservations import Reservations
    from meter.http.auth import Principal, TokenTable
    from meter.ingest.ingestor import Ingestor
    from meter.jobs.reconcile import LedgerRebuilder
    from meter.ledger.redis_ledger import RedisLedger
    from meter.ledger.stores import Stores
    from meter.mail.outbox import Outbox
    from meter.observability.telemetry import Telemetry
    from meter.portal.links import PortalLinks
    from meter.portal.pages import Pages
    from meter.registry.service import Registry
    from meter.reports.service import Reports
    from meter.sink.writer import StreamWriter
    from meter.store.clickhouse import ClickHouseStore
    from meter.usage.service import UsageReader

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
CONFIG: web.AppKey[PoolConfig] = web.AppKey("config")
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
TELEMETRY: web.AppKey[Telemetry] = web.AppKey("telemetry")
TOKENS: web.AppKey[TokenTable] = web.AppKey("tokens")
STORES: web.AppKey[Stores] = web.AppKey("stores")  # every Redis adapter (meter/ledger/stores.py)
LEDGER: web.AppKey[RedisLedger] = web.AppKey("ledger")
STORE: web.AppKey[ClickHouseStore] = web.AppKey("store")
INGESTOR: web.AppKey[Ingestor] = web.AppKey("ingestor")
REGISTRY: web.AppKey[Registry] = web.AppKey("registry")
USAGE: web.AppKey[UsageReader] = web.AppKey("usage")
WRITER: web.AppKey[StreamWriter] = web.AppKey("writer")
DECIDER: web.AppKey[Decider] = web.AppKey("decider")
RESERVATIONS: web.AppKey[Reservations] = web.AppKey("reservations")
REBUILDER: web.AppKey[LedgerRebuilder] = web.AppKey("rebuilder")
TRUSTED_GATEWAYS: web.AppKey[list[ipaddress.IPv4Network | ipaddress.IPv6Network]] = web.AppKey("trusted_gateways")
ALLOCATOR: web.AppKey[Allocator] = web.AppKey("allocator")
# reports and alerts (DESIGN §8)
OUTBOX: web.AppKey[Outbox] = web.AppKey("outbox")
REPORTS: web.AppKey[Reports] = web.AppKey("reports")
ALERTS: web.AppKey[Alerts] = web.AppKey("alerts")
# the partners' pages (DESIGN §11)
PORTAL_LINKS: web.AppKey[PortalLinks] = web.AppKey("portal_links")
PORTAL_PAGES: web.AppKey[Pages] = web.AppKey("portal_pages")

PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")  # the authenticated token of a request
