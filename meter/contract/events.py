"""CloudEvents 1.0 usage events, one model per event type (DESIGN 4, Events).

Extension attributes (any other top-level field) are accepted and ignored; so are unknown
fields of ``data``. An event may leave ``subject`` out where a collector cannot know it: an
``api.call`` carrying ``data.host``, a ``dataset.records``, ``dataset.deleted`` or
``dataset.metadata`` (DESIGN §12) carrying ``data.publisher``. Such an event is validated with
``subject = None``; attributing it is the ingestor's job, not this module's.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from meter.config.settings import Settings
from meter.contract.fields import MAX_ID, MAX_ITEM, MAX_NAME, MAX_SUBJECT, Int, Text

# RFC 3339 date-time, years 1970 (the start of ClickHouse's dates) to 2099
TIME = (r"^(19[7-9][0-9]|20[0-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):"
        r"[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
TIME_RE = re.compile(TIME)
_OPEN = ConfigDict(extra="ignore")


class ApiCallData(BaseModel):
    model_config = _OPEN
    dataset: Text(MAX_ITEM) | None = None  # type: ignore[valid-type]
    count: Int(1) = 1  # type: ignore[valid-type]
    host: Text(MAX_NAME) | None = Field(None, description="the host called; attributes an event without subject")  # type: ignore[valid-type]
    check_id: Text(MAX_ID) | None = Field(None, description="the id of a consumed check this call duplicates")  # type: ignore[valid-type]


class UpdateBytesData(BaseModel):
    model_config = _OPEN
    dataset: Text(MAX_ITEM) | None = None  # type: ignore[valid-type]
    bytes: Int(0)  # type: ignore[valid-type]
    kind: Literal["data", "content"]


class DatasetRecordsData(BaseModel):
    model_config = _OPEN
    dataset: Text(MAX_ITEM)  # type: ignore[valid-type]
    records: Int(0)  # type: ignore[valid-type]
    raw_bytes: Int(0)  # type: ignore[valid-type]
    publisher: Text(MAX_NAME) | None = Field(None, description="attributes an event without subject")  # type: ignore[valid-type]


class ContentBytesData(BaseModel):
    model_config = _OPEN
    object: Text(MAX_ITEM)  # type: ignore[valid-type]
    bytes: Int(0)  # type: ignore[valid-type]


class DatasetDeletedData(BaseModel):
    model_config = _OPEN
    dataset: Text(MAX_ITEM)  # type: ignore[valid-type]
    publisher: Text(MAX_NAME) | None = Field(None, description="attributes an event without subject")  # type: ignore[valid-type]


class DatasetMetadataData(BaseModel):
    model_config = _OPEN
    dataset: Text(MAX_ITEM)  # type: ignore[valid-type]
    publisher: Text(MAX_NAME) | None = Field(None, description="attributes an event without subject")  # type: ignore[valid-type]
    metas: dict[str, Any] = Field(description="the dataset's metas as the portal exports them (templates "
                                              "'default', 'dcat', ...); DESIGN 12 says which fields are checked")
    last_update: Text(64) | None = Field(  # type: ignore[valid-type]
        None, description="RFC 3339: metas.default.data_processed, else metas.default.modified")


def _subject_or(field: str) -> Any:
    """The schema of "a subject, or data.<field>" (the model validator below enforces it)."""
    text = {"type": "string"}
    return {"anyOf": [{"required": ["subject"], "properties": {"subject": text}},
                      {"required": ["data"],
                       "properties": {"data": {"required": [field], "properties": {field: text}}}}]}


class _Event(BaseModel):
    model_config = _OPEN
    specversion: Literal["1.0"]
    id: Text(MAX_ID) = Field(description="unique per source: the dedup key")  # type: ignore[valid-type]
    source: Text(MAX_NAME)  # type: ignore[valid-type]
    time: datetime | None = Field(None, json_schema_extra={"type": "string", "pattern": TIME, "format": "date-time"})
    subject: Text(MAX_SUBJECT) | None = Field(None, description="the signatory id")  # type: ignore[valid-type]

    @field_validator("time", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not TIME_RE.fullmatch(value):
            raise ValueError("must be an RFC 3339 timestamp from 1970 to 2099, with 'Z' or an offset")
        return parse_time(value)


def parse_time(value: str) -> datetime:
    """An RFC 3339 timestamp that matches ``TIME``, as an aware UTC datetime."""
    return datetime.fromisoformat(value.upper()).astimezone(UTC)


class _Attributable(_Event):
    """An event type that may leave ``subject`` out when its data names ``OWNER`` (host or
    publisher): the service attributes it then (DESIGN §4)."""

    OWNER: ClassVar[str]
    data: BaseModel  # each type's own data model

    @model_validator(mode="after")
    def _attributable(self) -> _Attributable:
        if self.subject is None and getattr(self.data, self.OWNER) is None:
            raise ValueError("an event of this type without 'subject' carries data.host or data.publisher")
        return self


class ApiCall(_Attributable):
    OWNER = "host"
    model_config = ConfigDict(extra="ignore", json_schema_extra=_subject_or(OWNER))
    type: Literal["api.call"]
    data: ApiCallData


class UpdateBytes(_Event):
    type: Literal["update.bytes"]
    subject: Text(MAX_SUBJECT)  # type: ignore[valid-type]
    data: UpdateBytesData


class DatasetRecords(_Attributable):
    OWNER = "publisher"
    model_config = ConfigDict(extra="ignore", json_schema_extra=_subject_or(OWNER))
    type: Literal["dataset.records"]
    data: DatasetRecordsData


class ContentBytes(_Event):
    type: Literal["content.bytes"]
    subject: Text(MAX_SUBJECT)  # type: ignore[valid-type]
    data: ContentBytesData


class DatasetDeleted(_Attributable):
    OWNER = "publisher"
    model_config = ConfigDict(extra="ignore", json_schema_extra=_subject_or(OWNER))
    type: Literal["dataset.deleted"]
    data: DatasetDeletedData


class DatasetMetadata(_Attributable):
    """A dataset's metadata (DESIGN §12): stored for the compliance checks, counts against no quota."""

    OWNER = "publisher"
    model_config = ConfigDict(extra="ignore", json_schema_extra=_subject_or(OWNER))
    type: Literal["dataset.metadata"]
    data: DatasetMetadataData


CloudEvent = Annotated[ApiCall | UpdateBytes | DatasetRecords | ContentBytes | DatasetDeleted | DatasetMetadata,
                       Field(discriminator="type")]
EVENT_TYPES = ("api.call", "update.bytes", "dataset.records", "content.bytes", "dataset.deleted", "dataset.metadata")
EVENTS = TypeAdapter(list[CloudEvent])
# The spec states the default bound (METER_MAX_BATCH_EVENTS may set another)
MAX_BATCH_EVENTS: int = Settings.model_fields["max_batch_events"].default
EVENT_BATCH = Annotated[list[CloudEvent], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]
