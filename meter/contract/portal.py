"""The requests of the portal links endpoints (DESIGN §11): a link for one partner or the pool."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from meter.contract.fields import MAX_SUBJECT, Int, Text
from meter.contract.reports import MONTH
from meter.portal.links import DEFAULT_TTL_DAYS, MAX_TTL_DAYS

# {"signatory": ID} (scope "signatory", said or not) or {"scope": "pool"} without a signatory
_ONE_SCOPE: Any = {"anyOf": [
    {"required": ["signatory"], "properties": {"signatory": {"type": "string"}, "scope": {"const": "signatory"}}},
    {"required": ["scope"], "properties": {"scope": {"const": "pool"}, "signatory": {"type": "null"}}},
]}
LINK_ID_PATH: dict[str, Any] = {"type": "string", "maxLength": 64, "description": "the link's id"}
KEY_PATH: dict[str, Any] = {"type": "string", "maxLength": 256, "description": "the link's key"}
REPORT_FILE = MONTH.removesuffix("$") + r"\.(pdf|csv)$"  # YYYY-MM.pdf, YYYY-MM.csv
REPORT_FILE_PATH: dict[str, Any] = {"type": "string", "pattern": REPORT_FILE,
                                    "description": "YYYY-MM.pdf or YYYY-MM.csv: a finished month's report"}
SIGNATORY_PATH: dict[str, Any] = {"type": "string", "maxLength": 128, "description": "a partner's id"}
STATIC_PATH: dict[str, Any] = {"type": "string", "maxLength": 64, "description": "a file name"}


class PortalLinkRequest(BaseModel):
    """``POST /v1/portal/links``: a partner's page (``signatory``) or the pool's (``scope`` pool)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_SCOPE)
    signatory: Text(MAX_SUBJECT) | None = Field(None, description="the partner whose page it opens")  # type: ignore[valid-type]
    scope: Literal["signatory", "pool"] | None = Field(None, description="pool: the pool's page; default signatory")
    ttl_days: Int(1, MAX_TTL_DAYS) = Field(DEFAULT_TTL_DAYS, description="days the link stays valid")  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _one_scope(self) -> PortalLinkRequest:
        if self.scope == "pool" and self.signatory is not None:
            raise ValueError("a pool link names no signatory")
        if self.scope != "pool" and self.signatory is None:
            raise ValueError("give signatory (a partner's page) or scope 'pool' (the pool's page)")
        return self


class PortalLinksQuery(BaseModel):
    """``GET /v1/portal/links``."""

    model_config = ConfigDict(extra="ignore")
    signatory: Text(MAX_SUBJECT) | None = Field(None, description="one partner's links only")  # type: ignore[valid-type]


class PageQuery(BaseModel):
    """``GET /portal/{key}``: the month shown (default the current one)."""

    model_config = ConfigDict(extra="ignore")
    mois: str | None = Field(None, pattern=MONTH, description="YYYY-MM: a past month")
    tri: Literal["nom", "appels", "part", "enregistrements", "volume"] | None = Field(
        None, description="the pool page: the partners' table sorted by this column")
