"""``meter collect ods``: the portal's catalogue export -> ``dataset.records`` / ``dataset.deleted``
/ ``dataset.metadata``.

One poll: ``GET {portal}/api/explore/v2.1/catalog/exports/json`` (Explore API v2.1), a JSON array
of datasets. Each dataset is a snapshot whose id is ``{dataset_id}@{data_processed}``, so the meter
counts a new one only when the portal processed the data again; a dataset of the last good
catalogue that is missing now is deleted (``{dataset_id}@deleted-{k}``, k counting its
deletions), and one that comes back after k deletions sends ids suffixed ``#k``. Beside each
snapshot, a ``dataset.metadata`` event (DESIGN §12) carries the dataset's metadata templates for
the compliance checks, with the id ``{dataset_id}@meta-{metadata_processed}-{data_processed}``:
sent again only when the metadata or the data changed (a portal that gives no
``metadata_processed`` gets a digest of the metadata in its place). The last good
catalogue is remembered only once the meter accepted everything; a failed, malformed or empty
export changes nothing.

The export is read as a stream (ijson) with a size cap (``--max-bytes``, default 512 MiB: past it
the poll fails and changes nothing), so a huge answer costs the collector a bounded amount of
memory. Datasets the meter refuses are counted in the summary (DESIGN §4).

Quirks of the portal that matter: ``records_count`` is missing for datasets without records
(federated, files only): 0; ``processing`` (and its ``records_size``) may be missing: 0 bytes;
dataset ids are case sensitive (kept as they are).
"""
from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import ijson
import orjson

from meter.collectors.state import read_json, write_atomically
from meter.core.errors import MeterError
from meter.registry.ids import UNATTRIBUTED

EXPORT_PATH = "/api/explore/v2.1/catalog/exports/json"
SOURCE = "ods"
BATCH = 1000
BATCH_BYTES = 4 * 1024 * 1024  # half the meter's default body limit: long HTML descriptions add up
METADATA_TEMPLATES = ("default", "dcat")  # where the twelve fields of article 2.6 are (DESIGN §12)
MAX_BYTES = 512 * 1024 * 1024  # the export's size cap
# events -> (accepted, duplicates, refused: events the meter called invalid and that were dropped)
Sink = Callable[[list[dict[str, Any]]], Awaitable[tuple[int, int, int]]]


class CatalogueError(MeterError):
    """The portal's answer cannot be used (HTTP error, invalid JSON, wrong shape, empty): nothing changes."""

    type = "catalogue"


@dataclass(frozen=True)
class Dataset:
    id: str
    records: int
    raw_bytes: int
    publisher: str
    processed: str  # '' when the portal gives none
    metas: dict[str, Any] = field(default_factory=dict)  # the templates the compliance checks read
    meta_stamp: str = ""  # metadata_processed as given, else a digest of ``metas``
    last_update: str = ""  # data_processed, else modified, as given ('' when neither)


def _count(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CatalogueError(f"{where} is not a count: {value!r}")
    return value


def _dataset(entry: Any, i: int) -> Dataset:
    if not isinstance(entry, dict) or not isinstance(entry.get("dataset_id"), str) or not entry["dataset_id"]:
        raise CatalogueError(f"dataset {i} has no dataset_id")
    metas = entry.get("metas")
    if not isinstance(metas, dict) or not isinstance(metas.get("default", {}), dict):
        raise CatalogueError(f"dataset {entry['dataset_id']!r}: metas is not an object")
    default = metas.get("default") or {}
    found = metas.get("processing")
    processing: dict[str, Any] = found if isinstance(found, dict) else {}
    publisher = default.get("publisher")
    kept = {name: metas[name] for name in METADATA_TEMPLATES if isinstance(metas.get(name), dict)}
    return Dataset(entry["dataset_id"], _count(default.get("records_count"), f"{entry['dataset_id']}: records_count"),
                   _count(processing.get("records_size"), f"{entry['dataset_id']}: records_size"),
                   publisher if isinstance(publisher, str) and publisher.isprintable() else "",
                   _timestamp(default.get("data_processed")), kept, _meta_stamp(default, kept),
                   _text(default.get("data_processed")) or _text(default.get("modified")))


def _text(value: Any) -> str:
    """A short printable string as given (a stamp, a date), else ''."""
    return value if isinstance(value, str) and value.isprintable() and 0 < len(value) <= 64 else ""


def _meta_stamp(default: dict[str, Any], kept: dict[str, Any]) -> str:
    stamp = _text(default.get("metadata_processed"))
    if stamp:
        return stamp
    return hashlib.sha256(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _timestamp(value: Any) -> str:
    """``data_processed`` as the RFC 3339 time the meter takes, or '' (then the poll's time is used)."""
    if not isinstance(value, str):
        return ""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return parsed.isoformat() if parsed.tzinfo is not None else ""


class _Capped:
    """An answer's body read in chunks, at most ``limit`` bytes; the first must open an array."""

    def __init__(self, content: aiohttp.StreamReader, limit: int) -> None:
        self.content = content
        self.limit = limit
        self.read_bytes = 0

    async def read(self, n: int = 65536) -> bytes:
        chunk = await self.content.read(n)
        if self.read_bytes == 0 and chunk.strip() and not chunk.lstrip().startswith(b"["):
            raise CatalogueError("the export is not a JSON array")
        self.read_bytes += len(chunk)
        if self.read_bytes > self.limit:
            raise CatalogueError(f"the export is larger than {self.limit} bytes (--max-bytes)")
        return chunk


async def read_catalogue(body: Any) -> dict[str, Dataset]:
    """The datasets of one export by id, read as a stream from ``body`` (an object with an async
    ``read``), or ``CatalogueError``; never a partial catalogue."""
    datasets: dict[str, Dataset] = {}
    try:
        async for entry in ijson.items(body, "item", use_float=True):
            d = _dataset(entry, len(datasets))
            datasets[d.id] = d
    except ijson.JSONError as exc:
        raise CatalogueError(f"the export is not valid JSON: {exc}") from None
    if not datasets:
        raise CatalogueError("the export is empty: kept the last good catalogue (no dataset deleted)")
    return datasets


async def fetch_catalogue(session: aiohttp.ClientSession, portal: str, apikey: str,
                          max_bytes: int = MAX_BYTES) -> dict[str, Dataset]:
    headers = {"Authorization": f"Apikey {apikey}"} if apikey else {}
    url = portal.rstrip("/") + EXPORT_PATH
    try:
        async with session.get(url, headers=headers) as resp:
            if resp.status != 200:
                raise CatalogueError(f"the portal answered HTTP {resp.status} for {url}")
            return await read_catalogue(_Capped(resp.content, max_bytes))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise CatalogueError(f"the portal cannot be reached at {url}: {exc.__class__.__name__}: {exc}") from None


@dataclass
class Memory:
    """The last good catalogue of one portal (id -> what was sent for it) and deletion counts."""

    last: dict[str, dict[str, Any]]
    deletions: dict[str, int]


class OdsState:
    def __init__(self, path: Path, portal: str) -> None:
        self.path = path
        self.portal = portal

    def load(self) -> Memory:
        found = read_json(self.path, {}).get(self.portal, {})
        return Memory(found.get("last", {}), found.get("deletions", {}))

    def save(self, memory: Memory) -> None:
        everything = read_json(self.path, {})
        everything[self.portal] = {"last": memory.last, "deletions": memory.deletions}
        write_atomically(self.path, everything)


def _snapshot_id(d: Dataset, before: dict[str, Any] | None, deletions: int, now: str) -> str | None:
    """The snapshot's event id, or None when nothing changed since the last good catalogue."""
    stamp = d.processed
    if not stamp:  # no processing date: a new snapshot only when the figures moved
        if before is not None and (before["records"], before["raw_bytes"]) == (d.records, d.raw_bytes):
            return None
        stamp = now
    return f"{d.id}@{stamp}" + (f"#{deletions}" if deletions else "")


def _event(etype: str, event_id: str, time: str, data: dict[str, Any]) -> dict[str, Any]:
    event = {"specversion": "1.0", "id": event_id, "source": SOURCE, "type": etype, "time": time, "data": data}
    if not data.get("publisher"):  # nothing to attribute it by: the pool's unattributed bucket
        data.pop("publisher", None)
        event["subject"] = UNATTRIBUTED
    return event


def plan(catalogue: dict[str, Dataset], memory: Memory, now: datetime) -> tuple[list[dict[str, Any]], Memory]:
    """The events one poll sends, and the memory to keep once the meter accepted them all."""
    stamp = now.isoformat(timespec="seconds")
    events: list[dict[str, Any]] = []
    deletions = dict(memory.deletions)
    for gone in sorted(set(memory.last) - set(catalogue)):
        deletions[gone] = deletions.get(gone, 0) + 1
        data = {"dataset": gone, "publisher": memory.last[gone].get("publisher") or ""}
        events.append(_event("dataset.deleted", f"{gone}@deleted-{deletions[gone]}", stamp, data))
    last: dict[str, dict[str, Any]] = {}
    for d in catalogue.values():
        before = memory.last.get(d.id)
        event_id = _snapshot_id(d, before, deletions.get(d.id, 0), stamp)
        suffix = f"#{deletions[d.id]}" if deletions.get(d.id) else ""
        meta_id = f"{d.id}@meta-{d.meta_stamp}-{d.processed}{suffix}"
        last[d.id] = {"records": d.records, "raw_bytes": d.raw_bytes, "publisher": d.publisher,
                      "processed": d.processed, "id": event_id or (before or {}).get("id"), "meta_id": meta_id}
        if event_id is not None:
            data = {"dataset": d.id, "records": d.records, "raw_bytes": d.raw_bytes, "publisher": d.publisher}
            events.append(_event("dataset.records", event_id, d.processed or stamp, data))
        if meta_id != (before or {}).get("meta_id"):
            events.append(_event("dataset.metadata", meta_id, stamp, _metadata(d)))
    return events, Memory(last, deletions)


def _metadata(d: Dataset) -> dict[str, Any]:
    data: dict[str, Any] = {"dataset": d.id, "publisher": d.publisher, "metas": d.metas}
    if d.last_update:
        data["last_update"] = d.last_update
    return data


def batches(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """At most ``BATCH`` events and about ``BATCH_BYTES`` of JSON per request, in order."""
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for ev in events:
        n = len(orjson.dumps(ev))
        if current and (len(current) >= BATCH or size + n > BATCH_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(ev)
        size += n
    return out + [current] if current else out


@dataclass(frozen=True)
class PollResult:
    datasets: int
    deleted: int
    accepted: int
    duplicates: int
    metadata: int = 0  # dataset.metadata events sent (changed metadata or data)
    refused: int = 0  # events the meter refused as invalid (dropped)

    def summary(self, portal: str) -> str:
        return (f"sent {self.accepted} events ({self.duplicates} duplicates) from {portal}: "
                f"{self.datasets} datasets, {self.deleted} deleted, {self.metadata} metadata, "
                f"{self.refused} refused")


async def poll_once(session: aiohttp.ClientSession, portal: str, apikey: str, state: OdsState, sink: Sink,
                    now: datetime, max_bytes: int = MAX_BYTES) -> PollResult:
    """Fetch, send, then remember; raises ``CatalogueError`` (nothing sent, nothing remembered)."""
    catalogue = await fetch_catalogue(session, portal, apikey, max_bytes)
    memory = state.load()
    events, after = plan(catalogue, memory, now)
    accepted = duplicates = refused = 0
    for batch in batches(events):
        a, d, r = await sink(batch)
        accepted, duplicates, refused = accepted + a, duplicates + d, refused + r
    state.save(after)
    deleted = sum(1 for ev in events if ev["type"] == "dataset.deleted")
    metadata = sum(1 for ev in events if ev["type"] == "dataset.metadata")
    return PollResult(len(catalogue), deleted, accepted, duplicates, metadata, refused)
