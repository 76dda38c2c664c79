"""Typed application keys: every object ``create_app`` builds, one key each."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from meter.allocation.service import Allocator
    from meter.clock import Clock
    from meter.decision.engine import Decider
    from meter.decision.reservations import Reservations
    from meter.reconcile import LedgerRebuilder
    from meter.http.auth import Principal, TokenTable
    from meter.ingest.ingestor import Ingestor
    from meter.ledger.redis_ledger import RedisLedger
    from meter.metrics import Metrics
    from meter.registry.service import Registry
    from meter.settings import PoolConfig, Settings
    from meter.store.clickhouse import ClickHouseStore
    from meter.usage import UsageReader
    from meter.writer import StreamWriter

SETTINGS = web.AppKey("settings", "Settings")
CONFIG = web.AppKey("config", "PoolConfig")
CLOCK = web.AppKey("clock", "Clock")
METRICS = web.AppKey("metrics", "Metrics")
TOKENS = web.AppKey("tokens", "TokenTable")
LEDGER = web.AppKey("ledger", "RedisLedger")
STORE = web.AppKey("store", "ClickHouseStore")
INGESTOR = web.AppKey("ingestor", "Ingestor")
REGISTRY = web.AppKey("registry", "Registry")
USAGE = web.AppKey("usage", "UsageReader")
WRITER = web.AppKey("writer", "StreamWriter")
DECIDER = web.AppKey("decider", "Decider")
RESERVATIONS = web.AppKey("reservations", "Reservations")
REBUILDER = web.AppKey("rebuilder", "LedgerRebuilder")
TRUSTED_GATEWAYS = web.AppKey("trusted_gateways", list)
ALLOCATOR = web.AppKey("allocator", "Allocator")

PRINCIPAL = web.RequestKey("principal", "Principal")  # the authenticated token of a request
