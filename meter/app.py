"""create_app: the one wiring point. Builds every object from the settings and passes it in.

Nothing connects at import time. Each resource has one cleanup context, whose cleanup runs if and
only if its start-up finished: Redis, then ClickHouse, then the services (with the ledger
rebuilt if Redis lost it), then the background writer and the scheduled jobs (stopped first on
shutdown; the writer finishes the batch in flight).
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path

from aiohttp import web

from meter.alerts.service import Alerts
from meter.alerts.webhook import WebhookTransport
from meter.allocation.service import Allocator
from meter.attribution.events import Attribution
from meter.collectors.ods_job import OdsPoll
from meter.config.exposure import refuse_demo_tokens
from meter.config.settings import PoolConfig, Settings, load_pool_config
from meter.contract.validation import event_validator
from meter.core.clock import Clock, SystemClock
from meter.core.errors import ConfigError, Conflict, NotFound, StoreUnavailable
from meter.core.periods import Period
from meter.decision.engine import Decider
from meter.decision.reservations import Reservations
from meter.http import appkeys, routes
from meter.http.auth import TokenTable
from meter.http.middleware import middleware
from meter.ingest.ingestor import Ingestor, PastTotal
from meter.jobs.reconcile import LedgerRebuilder
from meter.jobs.scheduler import Jobs, Scheduler
from meter.ledger.stores import Stores
from meter.mail.outbox import Outbox
from meter.mail.smtp import Mail, SmtpSender, smtp_transport
from meter.observability.telemetry import Telemetry
from meter.portal.links import PortalLinks, base_url
from meter.portal.pages import Pages
from meter.registry.csvimport import parse_csv_bytes
from meter.registry.service import Registry
from meter.reports.lines import POOL
from meter.reports.schedule import run_scheduled
from meter.reports.service import Reports
from meter.sink.writer import StreamWriter
from meter.store.caps import record_caps
from meter.store.clickhouse import ClickHouseStore
from meter.store.history import HistoryReader
from meter.usage.service import UsageReader

log = logging.getLogger("meter")
SEED_LABEL = "seed"  # the ``changed_by`` of signatories imported by METER_SEED_SIGNATORIES
SHARED_STORE = web.AppKey("shared_store", ClickHouseStore)
# start-up's steps that need ClickHouse, left for when a server away at start-up first answers
StartUp = Callable[[], Awaitable[None]]
STORE_START_UP: web.AppKey[StartUp] = web.AppKey("store_start_up")


def create_app(settings: Settings, config: PoolConfig | None = None, clock: Clock | None = None,
               telemetry: Telemetry | None = None, store: ClickHouseStore | None = None) -> web.Application:
    """The application; ``store`` lets a caller (tests) share one ClickHouse store it owns."""
    config = config or load_pool_config(settings.config)
    refuse_demo_tokens(settings, config)
    # auto_decompress off: the events endpoint inflates gzip itself, with a bound on the result
    app = web.Application(client_max_size=settings.max_body_bytes, handler_args={"auto_decompress": False},
                          middlewares=[middleware])
    app[appkeys.SETTINGS] = settings
    app[appkeys.CONFIG] = config
    app[appkeys.CLOCK] = clock or SystemClock()
    app[appkeys.TELEMETRY] = telemetry or Telemetry()
    app[appkeys.TOKENS] = TokenTable(config.tokens)
    app[appkeys.TRUSTED_GATEWAYS] = [ipaddress.ip_network(c, strict=False)
                                     for c in config.enforcement.trusted_gateways]
    if store is not None:
        app[SHARED_STORE] = store
    app.cleanup_ctx.extend([_redis, _store, _services, _background])
    routes.add_routes(app)
    return app


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings, config = app[appkeys.SETTINGS], app[appkeys.CONFIG]
    stores = await Stores.open(settings.redis_url, config.pool.id, cluster=settings.redis_cluster,
                               wait_replicas=settings.redis_wait_replicas, wait_ms=settings.redis_wait_ms)
    try:
        app[appkeys.STORES] = stores
        app[appkeys.LEDGER] = stores.ledger(settings.dedup_window_s, settings.stream_max_events,
                                            settings.max_datasets, settings.max_objects)
        yield
    finally:
        await stores.close()


async def _store(app: web.Application) -> AsyncIterator[None]:
    """The store, migrated now if it answers. A ClickHouse server away at start-up does not stop
    the service (DESIGN §7): decisions and ingestion go on through Redis, reads of history answer
    503, and the store migrates when it first answers (see ``_when_store_answers``)."""
    settings = app[appkeys.SETTINGS]
    if not settings.store_owner:
        yield  # an extra worker: no store, reads answer 503 here
        return
    shared = app.get(SHARED_STORE)
    store = shared or await ClickHouseStore.open(settings.clickhouse_url, settings.data_dir,
                                                 settings.clickhouse_database)
    try:
        app[appkeys.STORE] = store
        try:
            applied = await store.migrate()
            if applied:
                log.info("migrations applied", extra={"migrations": applied})
        except StoreUnavailable as exc:
            log.warning("ClickHouse is unreachable at start-up; serving through Redis until it answers",
                        extra={"error": str(exc)})
        yield
    finally:
        if shared is None:
            await store.close()


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings, config, ledger = app[appkeys.SETTINGS], app[appkeys.CONFIG], app[appkeys.LEDGER]
    clock, telemetry, store = app[appkeys.CLOCK], app[appkeys.TELEMETRY], app.get(appkeys.STORE)
    stores = app[appkeys.STORES]
    rebuilder = LedgerRebuilder(stores.restore, stores.counters, stores.locks, store, config, clock, telemetry,
                                settings.dedup_window_s)
    app[appkeys.REBUILDER] = rebuilder
    app[appkeys.REGISTRY] = Registry(stores.registry, store, config.tz, clock)
    allocator = Allocator(stores.allotments, app[appkeys.REGISTRY], store, config, clock, telemetry)
    app[appkeys.ALLOCATOR] = allocator

    async def rebuild() -> None:
        """The ledger from ClickHouse, then the allotments in force (they were in Redis too)."""
        if await rebuilder.ensure() and store is not None:
            await allocator.ensure_current("rebuild")

    async def with_store() -> None:
        """What start-up does with ClickHouse: now if it answered, else when it first answers."""
        await rebuild()
        if store is not None:
            if settings.seed_signatories:
                await _seed(app[appkeys.REGISTRY], settings.seed_signatories)
            await allocator.ensure_current("start-up")  # the pool file or the registry may have changed
            await record_caps(store, config.pool.id, config.caps.model_dump(), clock.now())

    if store is None or store.migrated:
        await with_store()
    else:
        app[STORE_START_UP] = with_store
    validate = event_validator(settings.max_batch_events, settings.max_future_skew_s)
    app[appkeys.INGESTOR] = Ingestor(ledger, config.pool.id, config.tz, clock, telemetry, validate,
                                     rebuild=rebuild, attribution=_attribution(app),
                                     past_total=_past_total(store, config))
    if store is not None:
        app[appkeys.USAGE] = UsageReader(store, config, allocator.allotments_for_usage)
    decisions = stores.decisions(settings.dedup_window_s, config.enforcement.redis_timeout_ms / 1000)
    app[appkeys.DECIDER] = Decider(decisions, config, clock, telemetry, rebuild=rebuild)
    app[appkeys.RESERVATIONS] = Reservations(app[appkeys.DECIDER], decisions)
    app[appkeys.PORTAL_LINKS] = PortalLinks(stores.portal, app[appkeys.REGISTRY],
                                            clock, config.tz,
                                            base_url(settings.public_url, settings.http_host, settings.http_port))
    _mail_services(app)
    app[appkeys.PORTAL_PAGES] = Pages(app.get(appkeys.REPORTS), app[appkeys.REGISTRY], app[appkeys.ALERTS], config,
                                      clock)
    if settings.startup_pool_link:
        _, url = await app[appkeys.PORTAL_LINKS].mint("pool", None)
        log.info("pool page, to open in a browser: %s", url, extra={"url": url})
    yield


def _past_total(store: ClickHouseStore | None, config: PoolConfig) -> PastTotal | None:
    """A flow's pool total in a period that is over, from history: the base of its 2^53 - 1 guard."""
    if store is None:
        return None
    history = HistoryReader(store, config.pool.id)

    async def total(metric: str, period: Period) -> int:
        return sum(row.value for row in await history.flow_by_signatory(metric, period.first_day, period.last_day))

    return total


def _attribution(app: web.Application) -> Attribution:
    """Subject-less events: by host or dataset (as /v1/authz), or by publisher (DESIGN §4)."""
    return Attribution(app[appkeys.STORES].owners, app[appkeys.CONFIG].collectors.ods.publishers)


async def _seed(registry: Registry, path: Path) -> None:
    """Import ``path`` if the pool has no signatories at all (after the ledger rebuild, so one
    that ClickHouse remembers is not seeded again)."""
    if await registry.count() > 0:
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"METER_SEED_SIGNATORIES: cannot read {path}: {exc.strerror}") from None
    result = await registry.import_rows(parse_csv_bytes(data), by=SEED_LABEL)
    log.info("signatories seeded", extra={"file": str(path), "import": result})


async def _background(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    owner = settings.store_owner
    writer = _writer(app) if owner else None
    if writer is not None and settings.writer:
        writer.start()
    waiting = asyncio.create_task(_when_store_answers(app), name="store-start-up") if STORE_START_UP in app else None
    scheduler = _scheduler(app) if owner and settings.scheduler else None
    if scheduler is not None:
        scheduler.start()
        if appkeys.REPORTS in app:
            app[appkeys.REPORTS].kick()  # what a crash left queued goes out now, not at the next tick
    yield
    if waiting is not None:
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    if scheduler is not None:
        scheduler.shutdown()
    if appkeys.REPORTS in app:
        await app[appkeys.REPORTS].stop()
    if writer is not None:
        await writer.stop()


async def _when_store_answers(app: web.Application, first_s: float = 0.5, most_s: float = 10.0) -> None:
    """Try the ClickHouse server that was away at start-up until it answers: migrate it, then do
    what start-up left (the ledger rebuild if Redis lost it, the seed, the allocations, the caps)."""
    store, delay = app[appkeys.STORE], first_s
    while not store.migrated:
        try:
            applied = await store.migrate()
            log.info("ClickHouse answers; migrations applied", extra={"migrations": applied})
        except StoreUnavailable:
            await asyncio.sleep(delay)
            delay = min(delay * 2, most_s)
    try:
        await app[STORE_START_UP]()
    except Exception:  # the scheduled jobs (allocations, ledger watch) try again
        log.exception("start-up's ClickHouse steps failed after it came back; the scheduled jobs retry")


def _writer(app: web.Application) -> StreamWriter:
    settings = app[appkeys.SETTINGS]
    writer = StreamWriter(app[appkeys.STORES].stream, app[appkeys.STORE], app[appkeys.TELEMETRY],
                          app[appkeys.CONFIG].pool.id, settings.writer_batch_entries, settings.writer_block_ms,
                          settings.writer_pace_ms, tz=app[appkeys.CONFIG].tz, batch_rows=settings.writer_batch_rows)
    app[appkeys.WRITER] = writer
    return writer


def _scheduler(app: web.Application) -> Scheduler:
    decider = app[appkeys.DECIDER]

    async def release_expired() -> None:
        await decider.ledger.release_expired_reservations(int(app[appkeys.CLOCK].now().timestamp() * 1000))

    jobs = Jobs(app[appkeys.STORES].jobs, app[appkeys.CLOCK], release_expired, app[appkeys.REBUILDER].reconcile)
    scheduler = Scheduler(jobs, app[appkeys.CONFIG].pool.timezone)
    if decider.rebuild is not None:  # Redis lost the ledger: rebuild without waiting for a request
        scheduler.add("ledger_watch", decider.rebuild, seconds=5)
    allocator = app[appkeys.ALLOCATOR]
    if allocator.enabled:
        # at each local midnight (a new day, and on the 1st a new month), and every 10 s as a
        # safety net: a registry changed from another process, a midnight missed while down
        scheduler.add_cron("allocations_period_start", lambda: allocator.ensure_current("period start"),
                           hour=0, minute=0, second=5)
        scheduler.add("allocations_refresh", lambda: allocator.ensure_current("schedule"), seconds=10)
    ods = app[appkeys.CONFIG].collectors.ods
    if ods.portal:  # the service polls the portal's catalogue itself (DESIGN §9)
        settings = app[appkeys.SETTINGS]
        apikey = settings.ods_apikey.get_secret_value()
        poll = OdsPoll(ods.portal, apikey, settings.data_dir / "collectors", app[appkeys.INGESTOR],
                       app[appkeys.CLOCK])
        scheduler.add("ods_poll", poll, seconds=ods.interval_s)
    _mail_jobs(app, scheduler)
    return scheduler


# --- reports and alerts (DESIGN §8): the outbox, the reports, the alerts, and their jobs ---

def _mail_services(app: web.Application) -> None:
    settings, config = app[appkeys.SETTINGS], app[appkeys.CONFIG]
    clock, telemetry, store = app[appkeys.CLOCK], app[appkeys.TELEMETRY], app.get(appkeys.STORE)
    smtp_url = settings.smtp_url.get_secret_value()
    mail = Mail(bool(smtp_url), settings.mail_from)
    transports = {}
    if smtp_url:
        transports["mail"] = smtp_transport(SmtpSender(smtp_url))
    if config.alerts.webhook_url:
        webhook = WebhookTransport(config.alerts.webhook_secret)
        transports["webhook"] = webhook
        app.on_cleanup.append(lambda _: webhook.close())  # its one session, reused by every delivery

    def sent(meta: dict) -> None:
        if meta.get("ref") == "report":
            telemetry.reports_sent.inc()

    def failed(kind: str) -> None:
        telemetry.mail_failures.labels("email" if kind == "mail" else kind).inc()

    stores = app[appkeys.STORES]
    outbox = Outbox(stores.outbox, stores.locks, clock, transports,
                    on_failure=failed, on_sent=sent, lock_s=settings.mail_lock_s, attempt_s=settings.mail_attempt_s)
    app[appkeys.OUTBOX] = outbox
    app[appkeys.ALERTS] = Alerts(stores.alerts, stores.counters, stores.allotments, app[appkeys.REGISTRY], config,
                                 clock, outbox, mail, telemetry)
    if store is not None:
        allocator = app[appkeys.ALLOCATOR]
        app[appkeys.REPORTS] = Reports(stores.reports, stores.allotments, stores.locks, stores.stream, store,
                                       app[appkeys.REGISTRY], config, clock, outbox, mail,
                                       allocator.get if allocator.enabled else None,
                                       page_link=_page_link(app[appkeys.PORTAL_LINKS]))


def _page_link(links: PortalLinks) -> Callable[[str, datetime], Awaitable[str | None]]:
    """A mailed report's link to its page (DESIGN §8): the pool's for the consolidated report; none
    for a partner that has left since (its page is closed)."""

    async def mint(sig: str, until: datetime) -> str | None:
        if sig == POOL:
            return (await links.mint("pool", None, until=until))[1]
        try:
            return (await links.mint("signatory", sig, until=until))[1]
        except (Conflict, NotFound):
            return None

    return mint


def _mail_jobs(app: web.Application, scheduler: Scheduler) -> None:
    clock = app[appkeys.CLOCK]
    scheduler.add("alerts_check", app[appkeys.ALERTS].check, seconds=30)
    if appkeys.REPORTS in app:
        reports = app[appkeys.REPORTS]
        scheduler.add("mail_outbox", reports.send_queued, seconds=30)
        scheduler.add("reports_schedule", lambda: run_scheduled(reports, clock.now()), seconds=60)
    else:
        scheduler.add("mail_outbox", app[appkeys.OUTBOX].deliver_due, seconds=30)
