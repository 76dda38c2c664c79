"""Every JSON answer of the API as a pydantic model: what a handler returns and what the spec states.

A handler builds its answer as one of these models (``meter.http.middleware.json_response``
serialises it); ``meter.http.openapi`` derives the answers' schemas from the same classes, so the
two cannot drift apart. Fields that an answer may leave out default to None and are left out
when unset (``exclude_unset``); every other field is required, so it is always written, null or
not. The class names are the names of the spec's components.

The decisions of ``/v1/check`` are the one exception on the hot path: a model per decision would
cost more than the decision itself, so ``decision_body`` writes the same fields as ``Decision``
straight into a dict, and ``tests/test_openapi.py`` holds the two together. (Decisions = the
answer of a check: one, or a batch's in order.)
"""
from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from meter.decision import model as decision
from meter.decision.model import Scope
from meter.registry.model import Kind, Publication


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# errors (every status >= 400 but /v1/authz's, which have no body)

class Problem(BaseModel):
    """One problem of a request; a batch's names the item by ``index``, a CSV import by ``row``."""

    model_config = ConfigDict(extra="forbid")

    index: int | None = Field(None, description="0-based event of a batch")
    row: int | None = Field(None, description="1-based data row of a CSV import")
    signatory: str | None = Field(None, description="the signatory concerned, when the problem is one's")
    field: str
    reason: str


class MoreProblems(BaseModel):
    """The last item of a list of problems cut at its first 100: how many were left out."""

    model_config = ConfigDict(extra="forbid")

    more: int = Field(ge=1, description="problems left out of this answer")


class ErrorInfo(_Answer):
    type: str
    message: str
    details: list[Problem | MoreProblems] | None = Field(
        None, max_length=101, description="each problem (at most 100, then how many more)")


class Error(_Answer):
    error: ErrorInfo


# events, usage and the pool

class EventsAccepted(_Answer):
    accepted: int
    duplicates: int


class MetricUsage(_Answer):
    used: int
    allotment: int | None
    cap: int
    pool_used: int
    percent: float | None
    reset: str | None


class Usage(_Answer):
    signatory: str
    period: str
    metrics: dict[str, MetricUsage]


class PoolMetric(_Answer):
    cap: int
    used: int
    by_signatory: dict[str, int]


class Pool(_Answer):
    pool: str
    period: str
    metrics: dict[str, PoolMetric]


# signatories

class SignatoryFields(_Answer):
    name: str
    kind: Kind
    population: int | None
    publication: Publication
    hosts: list[str]
    emails: list[str]
    joined_at: date
    left_at: date | None
    weight: int | float = Field(description="1, not 1.0, for a whole weight")


class Signatory(SignatoryFields):
    id: str
    active: bool


class SignatoryList(_Answer):
    signatories: list[Signatory]


class ImportResult(_Answer):
    created: int
    updated: int
    unchanged: int


class ChangedRecord(SignatoryFields):
    id: str


class Change(_Answer):
    at: str
    action: Literal["put", "delete", "import"]
    changed_by: str = Field(description="the token's name (or 'cli')")
    record: ChangedRecord


class History(_Answer):
    id: str
    changes: list[Change]


# operations

class Health(_Answer):
    status: Literal["ok"]


class ReadinessChecks(_Answer):
    redis: bool
    clickhouse: bool | None = Field(None, description="reachable and migrated (absent where no store is owned)")
    writer: bool | None = Field(None, description="false once every write to ClickHouse has failed for "
                                                  "METER_WRITER_UNREADY_S (absent where no writer runs)")
    writer_failing_s: float | None = Field(None, description="how long the writer has been failing, when it is")


class AllotmentsState(_Answer):
    """stale: the allotments in force could not be recomputed (error says why); decisions go on
    with them."""

    stale: bool
    error: str | None = None


class Readiness(_Answer):
    status: Literal["ready", "unavailable"]
    checks: ReadinessChecks
    allotments: AllotmentsState | None = None


# allocation

class Allocation(_Answer):
    pool: str
    period: str
    policy: str
    projected: bool = Field(description="true: nothing stored for this period, computed from today's registry")
    computed_at: str | None = None
    signatories: dict[str, dict[str, int]] = Field(
        description="signatory id (and 'unattributed') -> metric -> allotment")
    burst: dict[str, int] | None = None
    borrowing: bool | None = None
    explanation: str = Field(description="how the numbers came out, in English")
    explanation_fr: str | None = Field(None, description="the same, in French")
    inputs: dict[str, Any] | None = Field(
        None, description="per metric: cap, members (weight, active fraction, demand)")


class Simulation(_Answer):
    allotments: dict[str, int]
    burst: int | None = None


# decisions and reservations

class Decision(_Answer):
    allowed: bool
    metric: str
    scope: Scope
    limit: int | None
    used: int | None = Field(description="null when degraded")
    remaining: int | None
    reset: str | None
    signatory: str = Field(description="the signatory counted ('unattributed' when unknown)")
    reason: str | None = None


class Reservation(Decision):
    id: str
    amount: int
    dataset: str | None = None
    expires_at: str


class Settled(_Answer):
    id: str
    status: Literal["committed", "released"]
    metric: str
    signatory: str
    reserved: int
    committed: int
    dataset: str | None = None


def decision_body(d: decision.Decision) -> dict[str, Any]:
    """A decision's answer: the fields of ``Decision``, without a model per decision."""
    out: dict[str, Any] = {"allowed": d.allowed, "metric": d.metric, "scope": d.scope, "limit": d.limit,
                           "used": d.used, "remaining": d.remaining, "reset": d.reset, "signatory": d.signatory}
    if d.reason:
        out["reason"] = d.reason
    return out


# reports and alerts (DESIGN §8)

class ReportStatus(_Answer):
    signatory: str
    status: Literal["sent", "pending", "failed", "no_recipient"]
    recipients: list[str]
    sent_at: str | None = None
    message_id: str | None = None
    error: str | None = None


class ReportList(_Answer):
    pool: str
    period: str
    reports: list[ReportStatus]


class SendResult(_Answer):
    queued: int = Field(ge=0)
    skipped: int = Field(ge=0)


class Delivery(_Answer):
    email: str
    webhook: str


class Alert(_Answer):
    id: str
    type: Literal["threshold", "forecast"]
    scope: Literal["signatory", "pool"]
    signatory: str | None
    metric: str
    period: str
    threshold: int | None = None
    used: int
    limit: int
    at: str
    exhaustion_date: str | None = None
    delivered: Delivery


class AlertList(_Answer):
    alerts: list[Alert]


# the partners' pages (DESIGN §11)

class PortalLink(_Answer):
    """A new link: its URL is given once (only the key's hash is stored)."""

    id: str
    url: str
    scope: Literal["signatory", "pool"]
    signatory: str | None
    expires_at: str


class PortalLinkInfo(_Answer):
    """A link as listed: never its key."""

    id: str
    scope: Literal["signatory", "pool"]
    signatory: str | None
    created_at: str
    expires_at: str


class PortalLinkList(_Answer):
    links: list[PortalLinkInfo]


# catalogue compliance (DESIGN §12)

class InvalidField(_Answer):
    field: str
    reason: str


class DatasetCompliance(_Answer):
    dataset: str
    title: str | None = Field(description="metas.default.title as plain text; null when missing")
    missing: list[str] = Field(description="the fields of article 2.6 that are missing, in the convention's order "
                                           "(title, publisher, description, created, modified, issued, license, "
                                           "theme, keyword, frequency, coverage, granularity)")
    invalid: list[InvalidField] = Field(description="fields present but not valid (a frequency off the list)")
    frequency: str | None = Field(description="the convention's French label when valid, else the value as given")
    last_update: str | None = Field(description="RFC 3339: when the data last changed, as the portal says")
    late: bool = Field(description="not updated within its frequency's maximum age (article 2.2)")
    due: str | None = Field(description="last_update plus its frequency's maximum age; null when never late")


class ComplianceSummary(_Answer):
    datasets: int = Field(ge=0)
    complete: int = Field(ge=0, description="datasets with nothing missing and nothing invalid")
    late: int = Field(ge=0)


class SignatoryCompliance(_Answer):
    signatory: str
    checked_at: str
    datasets: list[DatasetCompliance]
    summary: ComplianceSummary


class PoolCompliance(_Answer):
    pool: str
    checked_at: str
    signatories: dict[str, ComplianceSummary] = Field(description="every signatory active now, and any other "
                                                                  "that has datasets")
    unattributed: ComplianceSummary


Decisions = Decision | list[Decision]
