"""The signatory body: validation of what a PUT or an import row declares.

Types are strict where JSON has a type (``"12"`` is not a population, ``true`` is not a weight);
dates are ``YYYY-MM-DD`` strings. ``joined_at`` defaults to a date the caller gives (today in
the pool's time zone, or the date an existing signatory already joined), passed as validation
context so that the ``left_at`` rule sees the default too. Every problem is reported at once.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from meter.core.addresses import refuse_bad_addresses
from meter.core.errors import InvalidRequest
from meter.core.problems import details

Kind = Literal["region", "departement", "epci", "commune", "other"]
Publication = Literal["direct", "subdomain"]
KINDS: tuple[str, ...] = get_args(Kind)
FIELDS = ("name", "kind", "population", "publication", "hosts", "emails", "joined_at", "left_at", "weight")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
MAX_HOST = 253
MAX_NAME = 200
# Bounds that keep one typo from taking the whole pool under a weighted policy (no partner is
# more populous than a billion, nor weighs a million times another) and every number exact
MAX_POPULATION = 1_000_000_000
MAX_WEIGHT = 1_000_000


def _host_problem(host: str) -> str | None:
    if len(host) > MAX_HOST:
        return f"a host name has at most {MAX_HOST} characters"
    if not all(_HOST_LABEL.fullmatch(label) for label in host.split(".")):
        return "must be a host name such as 'data.example.org' (no scheme, port or path)"
    return None


class SignatoryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(strict=True)
    kind: Kind
    population: int | None = Field(None, ge=0, le=MAX_POPULATION, strict=True)
    publication: Publication = "direct"
    hosts: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    joined_at: date | None = None  # None only until the model validator applies the default
    left_at: date | None = None
    weight: float = Field(1.0, gt=0, le=MAX_WEIGHT, strict=True, allow_inf_nan=False)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        if not v.isprintable() or len(v) > MAX_NAME:
            raise ValueError(f"must be printable text of at most {MAX_NAME} characters")
        return v.strip()

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        v = [host.strip().lower() for host in v]  # host names are case-insensitive: keep one spelling
        problems = [f"{host!r}: {reason}" for host in v if (reason := _host_problem(host))]
        if problems:
            raise ValueError("; ".join(problems))
        return list(dict.fromkeys(v))  # a repeated host is harmless: keep it once

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(refuse_bad_addresses(v)))

    @field_validator("joined_at", "left_at", mode="before")
    @classmethod
    def _date_text(cls, v: Any) -> Any:
        # pydantic would also read numbers as Unix timestamps; a date here is only ever YYYY-MM-DD
        if v is None or isinstance(v, date) or (isinstance(v, str) and _DATE.fullmatch(v)):
            return v
        raise ValueError("must be a date YYYY-MM-DD")

    @model_validator(mode="after")
    def _dates(self, info: ValidationInfo) -> SignatoryBody:
        if self.joined_at is None:
            self.joined_at = (info.context or {})["joined_at"]
        if self.left_at is not None and self.left_at <= self.joined_at:
            raise ValueError(f"must be after joined_at ({self.joined_at})")
        return self

    @field_serializer("weight")
    def _weight(self, v: float) -> float | int:
        return int(v) if float(v).is_integer() else v  # 1, not 1.0, for the usual whole weights


def problems(body: Any, joined_at: date) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """(the validated body as JSON values, []) or (None, [{"field", "reason"}, ...])."""
    if not isinstance(body, dict):
        return None, [{"field": "body", "reason": "must be a JSON object"}]
    try:
        model = SignatoryBody.model_validate(body, context={"joined_at": joined_at})
    except ValidationError as exc:
        return None, details(exc, whole="left_at", known=FIELDS)
    return model.model_dump(mode="json"), []


def validate_body(body: Any, joined_at: date) -> dict[str, Any]:
    """The validated body as JSON values; ``InvalidRequest`` listing every problem otherwise.

    ``joined_at`` is the default used when the body gives none.
    """
    valid, found = problems(body, joined_at)
    if valid is None:
        raise InvalidRequest("the signatory is invalid: " + "; ".join(f"{p['field']}: {p['reason']}" for p in found),
                             found)
    return valid
