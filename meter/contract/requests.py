"""The request bodies and queries of the API (but the events, in ``meter.contract.events``).

Each rule that JSON Schema can state is a field constraint here, so the generated spec states
it. A relation between fields is a ``@model_validator`` whose rule the schema also states
(``json_schema_extra``); the relations no schema states (a simulation's unique ids, a policy's
own conditions) are checked by the allocation code and named in the operation's description.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from meter.allocation.policies import POLICIES
from meter.config.settings import METRICS
from meter.contract.fields import MAX_ID, MAX_NAME, MAX_SUBJECT, Int, Text, period_pattern
from meter.core.periods import FIRST_YEAR, LAST_YEAR
from meter.registry.model import MAX_WEIGHT

MAX_TTL_S = 7 * 86_400
MAX_CHECKS = 1_000  # per batch: Redis runs a batch in one script, blocking others while it runs
MAX_MEMBERS = 10_000
PERIOD = period_pattern(FIRST_YEAR, LAST_YEAR)
Metric = Literal[METRICS]  # type: ignore[valid-type]  # the tuple of configured metric names
# dataset_records is a per-dataset cap: a check of it names its dataset (stated in the schema)
_DATASET_RULE: Any = {"anyOf": [{"properties": {"metric": {"not": {"const": "dataset_records"}}}},
                                {"required": ["dataset"], "properties": {"dataset": {"type": "string"}}}]}
_CLOSED = ConfigDict(extra="forbid", json_schema_extra=_DATASET_RULE)


class _Ask(BaseModel):
    """What a check and a reservation share: a metric, and its dataset where the cap is one's."""

    metric: Metric
    dataset: Text(MAX_NAME) | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _dataset_named(self) -> _Ask:
        if self.metric == "dataset_records" and self.dataset is None:
            raise ValueError("dataset is required for dataset_records (a per-dataset cap)")
        return self


class CheckRequest(_Ask):
    """Allow or deny one request, and count it when ``consume`` is true."""

    model_config = _CLOSED
    signatory: Text(MAX_SUBJECT)  # type: ignore[valid-type]
    amount: Int(0) = 1  # type: ignore[valid-type]
    consume: bool = Field(True, strict=True)
    id: Text(MAX_ID) | None = Field(None, description="makes a retry count once")  # type: ignore[valid-type]


class ReservationRequest(_Ask):
    """Hold ``amount`` for ``ttl_s`` seconds."""

    model_config = _CLOSED
    signatory: Text(MAX_SUBJECT)  # type: ignore[valid-type]
    amount: Int(1)  # type: ignore[valid-type]
    ttl_s: Int(1, MAX_TTL_S) = 900  # type: ignore[valid-type]


class CommitRequest(BaseModel):
    """The amount actually used (at most the amount held)."""

    model_config = ConfigDict(extra="forbid")
    amount: Int(0)  # type: ignore[valid-type]


class RecomputeRequest(BaseModel):
    """The period to recompute; default the current one."""

    model_config = ConfigDict(extra="forbid")
    period: str | None = Field(None, pattern=PERIOD, strict=True)


class SimulatedMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Text(MAX_SUBJECT)  # type: ignore[valid-type]
    weight: float = Field(1.0, ge=0, le=MAX_WEIGHT, strict=True, allow_inf_nan=False)
    demand: Int(0) | None = None  # type: ignore[valid-type]


class SimulationRequest(BaseModel):
    """A policy tried on given signatories. Not stated by the schema: ids are unique, and the
    policy's own conditions (a positive weight in all, ...) hold; else 400."""

    model_config = ConfigDict(extra="forbid")
    policy: Literal[tuple(POLICIES)]  # type: ignore[valid-type]
    cap: Int(0)  # type: ignore[valid-type]
    signatories: list[SimulatedMember] = Field(min_length=1, max_length=MAX_MEMBERS)
    reserved_fraction: float = Field(0.5, ge=0, le=1, strict=True, allow_inf_nan=False)


class PeriodQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    period: str | None = Field(None, pattern=PERIOD, description=(
        "YYYY-MM (a month) or YYYY-MM-DD (a day) in the pool's time zone; default the current month"))


class UsageQuery(PeriodQuery):
    signatory: Text(MAX_SUBJECT) = Field(description=(  # type: ignore[valid-type]
        "the signatory; a token bound to one may leave it out"))


class ComplianceQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    signatory: Text(MAX_SUBJECT) | None = Field(None, description=(  # type: ignore[valid-type]
        "one signatory's datasets ('unattributed': the datasets of publishers the pool does not know); "
        "without it, every signatory's summary (a token bound to a signatory gets its own datasets)"))


class AuthzQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    deny_status: Literal["403", "429"] = Field("429", description="403 for nginx's auth_request")


CHECK = TypeAdapter(CheckRequest)
CheckBatch = Annotated[list[CheckRequest], Field(min_length=1, max_length=MAX_CHECKS)]
CHECKS = TypeAdapter(CheckBatch)
CHECK_BODY: Any = CheckRequest | CheckBatch  # the spec's view: one, or a batch
