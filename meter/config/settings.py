"""Settings: the process's environment (``METER_*``) and the pool file (TOML).

Both are validated once at start-up; a bad value stops the process with a message that names
the key and says what is wrong (see ``ConfigError``).
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from meter.core import quotas
from meter.core.addresses import refuse_bad_addresses
from meter.core.errors import ConfigError

DEFAULT_POOL_FILE = Path(__file__).resolve().parents[2] / "examples" / "demo-pool.toml"
FLOW_METRICS = quotas.FLOW_NAMES  # the metric table (meter/core/quotas.py) is the one source
STOCK_METRICS = quotas.STOCK_NAMES
METRICS = quotas.NAMES
Role = Literal["admin", "gateway", "producer", "reader"]
ROLES: tuple[str, ...] = get_args(Role)
# the allocation policies (meter/allocation/policies.py implements each, and checks it against this)
PolicyName = Literal["none", "equal", "weighted", "reserved", "max_min_fair", "elastic"]
WeightBy = Literal["population", "weight"]  # what a weighted policy weighs signatories by
MAX_INT = 2**53 - 1  # every quantity: exact in Redis Lua numbers and in JSON everywhere
_POOL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoolSection(_Strict):
    id: str = "cvl"
    name: str = "Portail open data mutualisé"
    timezone: str = "Europe/Paris"

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _POOL_ID.fullmatch(v):
            raise ValueError("must be 1-32 characters of a-z, 0-9, '_' or '-', starting with a letter or digit")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as 'Europe/Paris')") from None
        return v


class _Caps(_Strict):
    """The convention's quotas, one field per metric of the table; byte quotas read "GB" as 10^9 bytes."""

    def get(self, metric: str) -> int:
        return int(getattr(self, metric))


# one field per metric, so a metric added to the table is configurable with no edit here
_CAP_FIELDS: dict = {m.name: (int, Field(m.default_cap, ge=0, le=MAX_INT)) for m in quotas.METRICS}
if TYPE_CHECKING:
    CapsSection = _Caps
else:
    CapsSection = create_model("CapsSection", __base__=_Caps, __module__=__name__, **_CAP_FIELDS)


class AllocationSection(_Strict):
    policy: PolicyName = "none"
    weight: WeightBy = "population"
    reserved_fraction: float = Field(0.5, ge=0, le=1)
    borrowing: bool = False
    # max_min_fair and elastic: "drf" apportions records, raw_bytes and content_bytes jointly
    stocks: Literal["separate", "drf"] = "separate"
    unattributed_share: float = Field(0.05, ge=0, lt=1)
    # max_min_fair: explicit demand per metric and signatory, instead of the forecast
    demand: dict[str, dict[str, int]] = Field(default_factory=dict)

    @field_validator("demand")
    @classmethod
    def _demand(cls, v: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        unknown = sorted(set(v) - {m.name for m in quotas.APPORTIONED})
        if unknown:
            raise ValueError(f"demand is per apportioned metric; not {unknown}")
        for metric, per in v.items():
            bad = sorted(k for k, d in per.items() if d < 0)
            if bad:
                raise ValueError(f"{metric}: demand must be >= 0 (see {bad})")
        return v


FailMode = Literal["fail_open", "fail_closed"]


class EnforcementSection(_Strict):
    """How decisions behave when Redis fails, and whether they may deny at all (shadow mode)."""

    enforce: bool = True
    # past it a decision is taken by the fail mode; on a loaded 2-core machine event-loop delay
    # counts too, so keep it well above Redis's own latency
    redis_timeout_ms: int = Field(100, ge=1, le=10_000)
    fail_modes: dict[str, FailMode] = Field(default_factory=dict)
    enforce_metrics: dict[str, bool] = Field(default_factory=dict)
    trusted_gateways: list[str] = Field(default_factory=list)

    @field_validator("fail_modes", "enforce_metrics")
    @classmethod
    def _known_metrics(cls, v: dict) -> dict:
        unknown = sorted(set(v) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {list(METRICS)}")
        return v

    @field_validator("trusted_gateways")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not an IP network (CIDR such as 10.0.0.0/8)") from None
        return v

    def fail_mode(self, metric: str) -> FailMode:
        return self.fail_modes.get(metric, "fail_open" if quotas.metric(metric).fail_open else "fail_closed")

    def enforced(self, metric: str) -> bool:
        return self.enforce and self.enforce_metrics.get(metric, True)


class TokenEntry(_Strict):
    role: Role
    token: SecretStr | None = Field(None, min_length=8)
    sha256: str | None = None
    # the name of an environment variable holding the token (compose's .env): read at start-up
    token_env: str | None = Field(None, pattern=r"^[A-Z_][A-Z0-9_]{0,63}$")
    signatory: str | None = None
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_env(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("token_env"), str):
            value = os.environ.get(data["token_env"], "")
            if len(value) < 8:
                raise ValueError(f"the environment variable {data['token_env']} must hold the token "
                                 "(at least 8 characters; `make secrets` writes one to .env)")
            data = {**data, "token": value}
        return data

    @model_validator(mode="after")
    def _one_secret(self) -> TokenEntry:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError("give exactly one of 'token', 'token_env' or 'sha256'")
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", self.sha256.lower()):
            raise ValueError("'sha256' must be 64 hex digits")
        if self.role == "admin" and self.signatory is not None:
            raise ValueError("an admin token cannot be bound to a signatory (an admin acts for the whole pool)")
        return self

    def digest(self) -> str:
        if self.sha256 is not None:
            return self.sha256.lower()
        assert self.token is not None  # _one_secret: exactly one of token and sha256
        return hashlib.sha256(self.token.get_secret_value().encode()).hexdigest()

    def label(self) -> str:
        """A name for logs and history that never reveals the secret."""
        return self.name or f"{self.role}:{self.digest()[:8]}"


class OdsSection(_Strict):
    """``[collectors.ods]``: the portal whose catalogue the service polls (empty: no poll), and
    publisher name -> signatory id, tried before a signatory's exact name (DESIGN §4, §9)."""
    portal: str = ""
    interval_s: int = Field(900, ge=5)
    publishers: dict[str, str] = Field(default_factory=dict)

    @field_validator("portal")
    @classmethod
    def _portal(cls, v: str) -> str:
        if v and not re.match(r"https?://[^/\s]+", v):
            raise ValueError("must be the portal's base URL, such as 'https://data.example.org'")
        return v.rstrip("/")


class CollectorsSection(_Strict):
    ods: OdsSection = OdsSection()
# --- reports and alerts (DESIGN §8): the pool file's [reports] and [alerts] sections ---
_SEND_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ReportsSection(_Strict):
    auto_send: bool = True
    send_day: int = Field(1, ge=1, le=28)
    send_time: str = "07:00"
    admins: list[str] = Field(default_factory=list)
    language: quotas.Lang = "fr"

    @field_validator("send_time")
    @classmethod
    def _time(cls, v: str) -> str:
        if not _SEND_TIME.fullmatch(v):
            raise ValueError("must be HH:MM (24-hour clock, pool time), e.g. '07:00'")
        return v

    @field_validator("admins")
    @classmethod
    def _admins(cls, v: list[str]) -> list[str]:
        return refuse_bad_addresses(v)


MIN_WEBHOOK_KEY_BYTES = 24


def webhook_key_problem(secret: str) -> str | None:
    """Why ``secret`` is not a usable Standard Webhooks secret ('whsec_' + base64 of at least
    24 bytes: an empty key would let anyone sign), or None."""
    if not secret.startswith("whsec_"):
        return "must be 'whsec_' followed by a base64 key"
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except ValueError:
        return "the part after 'whsec_' is not base64"
    if len(key) < MIN_WEBHOOK_KEY_BYTES:
        return (f"the key after 'whsec_' is {len(key)} bytes; at least {MIN_WEBHOOK_KEY_BYTES} "
                "(make one with: echo whsec_$(openssl rand -base64 32))")
    return None


class AlertsSection(_Strict):
    thresholds: list[int] = Field(default_factory=lambda: [80, 90, 100])
    forecast: bool = True
    webhook_url: str = ""
    webhook_secret: str = ""

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, v: list[int]) -> list[int]:
        if any(t < 1 or t > 1000 for t in v):
            raise ValueError("each threshold is a percent from 1 to 1000")
        return sorted(set(v))

    @model_validator(mode="after")
    def _webhook(self) -> AlertsSection:
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError("webhook_url must start with http:// or https://")
        if self.webhook_url and (problem := webhook_key_problem(self.webhook_secret)):
            raise ValueError(f"webhook_secret (required with webhook_url): {problem}")
        return self


class PoolConfig(_Strict):
    pool: PoolSection = PoolSection()
    caps: CapsSection = CapsSection()
    allocation: AllocationSection = AllocationSection()
    enforcement: EnforcementSection = EnforcementSection()
    tokens: list[TokenEntry] = Field(default_factory=list)
    collectors: CollectorsSection = CollectorsSection()
    reports: ReportsSection = ReportsSection()
    alerts: AlertsSection = AlertsSection()

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.pool.timezone)


class Settings(BaseSettings):
    """Process settings from ``METER_*`` variables; tests build it directly."""

    model_config = SettingsConfigDict(env_prefix="METER_", extra="ignore")

    config: Path = DEFAULT_POOL_FILE
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Redis Cluster (DESIGN §7): the URL names any one node; redis-py's cluster client finds the others.
    redis_cluster: bool = False
    # Writes that answer 2xx (events, consuming checks, reservations, commits) wait until this many
    # replicas hold them (WAIT); one that does not within redis_wait_ms answers 503. 0: no wait.
    redis_wait_replicas: int = Field(0, ge=0, le=16)
    redis_wait_ms: int = Field(100, ge=1, le=10_000)
    clickhouse_url: str = ""
    clickhouse_database: str = "meter"
    data_dir: Path = Path("var")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    dedup_window_s: int = Field(35 * 86_400, ge=60)
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_batch_events: int = Field(10_000, ge=1)
    # limits and trust (DESIGN §4): a body not received in full within this is answered 408
    body_timeout_s: float = Field(30, gt=0, le=3600)
    # an event dated more than this after the service's clock is invalid (a snapshot from 2099
    # would stay the newest forever)
    max_future_skew_s: int = Field(300, ge=0, le=86_400)
    # distinct datasets and content objects per pool: the Redis ledger stays bounded
    max_datasets: int = Field(100_000, ge=1)
    max_objects: int = Field(100_000, ge=1)
    stream_max_events: int = Field(5_000_000, ge=1_000)
    # the most stream entries a batch reads; an insert's size follows writer_batch_rows. Entries of
    # one row each (a decision at low load) fill a batch of 200 in a fraction of a second, and
    # full batches are inserted back to back: 5,000 lets them gather for writer_pace_ms instead
    writer_batch_entries: int = Field(5_000, ge=1)
    writer_batch_rows: int = Field(50_000, ge=1, le=1_000_000)  # about the most rows an insert carries
    writer_block_ms: int = Field(200, ge=1)
    writer_pace_ms: int = Field(250, ge=0, le=60_000)  # pause after a batch that was not full
    writer_unready_s: float = Field(60.0, gt=0, le=86_400)  # /readyz is 503 once the writer has failed this long
    writer: bool = True
    scheduler: bool = True
    # False for extra worker processes: they serve check, authz and events through Redis alone,
    # while one process owns the embedded store (chDB allows one per path), writer and jobs.
    store_owner: bool = True
    # A signatories CSV imported at start-up when the pool has none yet (`make run` sets it for the
    # demo pool); empty: never.
    seed_signatories: Path | None = None
    # Benchmarks only: adds /_bench/noop (an empty 200), the baseline the hot path is compared with.
    bench_noop: bool = False
    # The portal's API key for the ODS catalogue poll (``Authorization: Apikey ...``); empty: none.
    ods_apikey: SecretStr = SecretStr("")
    # Reports and alerts by email (DESIGN §8): empty SMTP URL, nothing is sent (reports are still readable)
    smtp_url: SecretStr = SecretStr("")
    mail_from: str = "meter@localhost"
    # The partners' pages (DESIGN §11): the base of their links (empty: the service's own address,
    # http://METER_HTTP_HOST:METER_HTTP_PORT), and whether start-up logs a fresh pool-page link
    # (`make run` sets it, so the demo pool is one click away)
    public_url: str = ""
    startup_pool_link: bool = False
    # The outbox's lock (one delivery at a time in the pool), renewed every third of it while a delivery
    # runs: after a crash another process takes over within this time.
    mail_lock_s: float = Field(30, ge=1, le=3600)
    # The bound of one delivery attempt (connection, every reply, the message); an entry is claimed for
    # this long (plus a minute) before it is sent. At least 60: the SMTP client waits 60 s for each reply.
    mail_attempt_s: float = Field(900, ge=60, le=86_400)

    @field_validator("clickhouse_database")
    @classmethod
    def _db_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", v):
            raise ValueError("must be an identifier: letters, digits and '_'")
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if v and not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", v):
            raise ValueError("must be the service's public base URL, such as 'https://meter.example.org'")
        return v.rstrip("/")

    @field_validator("seed_signatories", mode="before")
    @classmethod
    def _no_seed(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v

    @field_validator("redis_cluster")
    @classmethod
    def _cluster_url(cls, v: bool, info: ValidationInfo) -> bool:
        url = urlsplit(info.data.get("redis_url", ""))
        if v and url.scheme == "unix":
            raise ValueError("a cluster is reached over TCP: METER_REDIS_URL must be redis:// or rediss:// "
                             "naming one of its nodes")
        if v and url.path.strip("/") not in ("", "0"):
            raise ValueError(f"a cluster has only database 0; METER_REDIS_URL names {url.path.strip('/')!r}")
        return v


def _describe(exc: ValidationError, origin: str, env: bool = False) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if env:
            key = "METER_" + key.upper()
        lines.append(f"  {key}: {err['msg']}")
    return "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "the environment", env=True)) from None


def parse_pool_config(text: str, origin: str = "pool file") -> PoolConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid configuration in {origin}: not valid TOML: {exc}") from None
    try:
        return PoolConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None


def load_pool_config(path: Path) -> PoolConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the pool file {path} (METER_CONFIG): {exc.strerror}") from None
    return parse_pool_config(text, str(path))
