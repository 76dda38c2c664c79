"""The request models of the reports and alerts endpoints (query parameters and bodies), one
source for validation and for the API description."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from meter.errors import InvalidRequest

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$"
ID_PATTERN = r"^[a-z0-9-]{1,64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportQuery(_Strict):
    """``GET /v1/reports/{month}/{id}`` query."""

    format: Literal["html", "text", "csv", "pdf", "json"] = "html"


class SendBody(_Strict):
    """``POST /v1/reports/{month}/send`` body."""

    signatories: list[str] | None = Field(None, min_length=1, max_length=10_000, strict=True)
    resend: bool = Field(False, strict=True)


class AlertsQuery(_Strict):
    """``GET /v1/alerts`` query."""

    period: str | None = Field(None, pattern=PERIOD_PATTERN)
    signatory: str | None = Field(None, min_length=1, max_length=128)


def parse(model: type[BaseModel], data: Any, where: str) -> Any:
    """``data`` validated by ``model``; every problem named (field and reason) in one 400."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in err["loc"]) or where, "reason": err["msg"]}
                   for err in exc.errors()]
        raise InvalidRequest(f"the {where} is invalid", details) from None
