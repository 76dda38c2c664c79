"""The requests of the reports and alerts endpoints (DESIGN §8): path, query and body models.

Like the rest of ``meter.contract``, each is the one source of its validation and of its part of
the generated spec.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from meter.contract.fields import MAX_SUBJECT, Text, month_pattern
from meter.contract.requests import PERIOD
from meter.core.periods import FIRST_YEAR, LAST_YEAR
from meter.reports.render import Format

MONTH = month_pattern(FIRST_YEAR, LAST_YEAR)
MAX_SEND = 10_000  # signatories named in one send request
MONTH_PATH: dict[str, Any] = {"type": "string", "pattern": MONTH, "description": "YYYY-MM, in the pool's time zone"}
REPORT_ID_PATH: dict[str, Any] = {
    "type": "string", "maxLength": 64, "pattern": "^([0-9]{9}|[a-z0-9-]*[a-z][a-z0-9-]*)$",
    "description": "a signatory's id, or pool for the consolidated report"}


class ReportQuery(BaseModel):
    """``GET /v1/reports/{month}/{id}``."""

    model_config = ConfigDict(extra="ignore")
    format: Format = Field("html", description="the report's format")


class SendRequest(BaseModel):
    """``POST /v1/reports/{month}/send``; an empty body sends every report of the month."""

    model_config = ConfigDict(extra="forbid")
    signatories: list[Text(MAX_SUBJECT)] | None = Field(  # type: ignore[valid-type]
        None, min_length=1, max_length=MAX_SEND, description="ids (or pool); without it, every report of the month")
    resend: bool = Field(False, strict=True, description="send again the reports already sent")


class AlertsQuery(BaseModel):
    """``GET /v1/alerts``."""

    model_config = ConfigDict(extra="ignore")
    period: str | None = Field(None, pattern=PERIOD, description=(
        "YYYY-MM (a month, with the alerts of its days) or YYYY-MM-DD; default the current month"))
    signatory: Text(MAX_SUBJECT) | None = Field(None, description="one signatory's alerts")  # type: ignore[valid-type]
