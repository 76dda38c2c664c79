"""The Lua scripts' argument and reply layouts, in one place next to the scripts.

The domain hands the adapters typed values (``DecisionArgs``, ``LedgerEvent``); only this module
knows that decide.lua reads each metric's constants once per call (``METRIC``) and then each
decision (``ASK``), as two JSON arrays, and answers 7 values per decision (``REPLY``), and that
ingest.lua reads three lists (seen keys, metas, rows). The positions are named by the tuples' fields, and the
scripts unpack them into locals of the same names (``tests/test_wire.py`` holds them equal).
Each layout is the one its script's header documents (``ledger/lua/*.lua``); change both together.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson

from meter.ledger.client import as_text

SEP = "\x1f"


class MetricArgs(NamedTuple):
    """What every decision of one metric shares in a call: the keys and limits that apply to it.
    decide.lua gets it once per call, not once per decision."""

    metric: str
    flow: bool  # a consuming check counts it (a stock moves with its snapshots)
    per_dataset: bool  # ``cap`` is each dataset's, not the pool's
    counter: str  # a flow: the period's counter hash; a stock: its hash; '' for a per-dataset cap
    counter_ttl_s: int
    cap: int
    allotments: str  # the allotment hash; '' = no allocation
    enforce: bool


class DecisionArgs(NamedTuple):
    """One decision as decide.lua needs it: the ask, and its metric's ``MetricArgs``.

    A NamedTuple, not a frozen dataclass: it is built for every decision on the hot path, and a
    frozen dataclass's ``__init__`` costs several times more."""

    metric: MetricArgs
    signatory: str  # '' = the script finds it from the host, then the dataset
    host: str
    dataset: str
    amount: int
    consume: bool
    seen_key: str  # the check id's key; '' = no id
    reserve_id: str = ""  # '' = a check; else the reservation to hold
    reserve_ttl_ms: int = 0


class Verdict(NamedTuple):
    """decide.lua's answer for one decision."""

    allowed: bool
    scope: str
    limit: int
    used: int
    remaining: int
    signatory: str
    note: str  # '' | 'replay' | 'shadow' | 'protected'


# decide.lua's positions, named (its locals bear the same names): a metric's constants, a
# decision (its ``metric`` is the position of its MetricArgs in the call, from 1), an answer
METRIC = MetricArgs._fields
ASK = DecisionArgs._fields
REPLY = Verdict._fields
ANSWER_WIDTH = len(REPLY)  # values per decision in decide.lua's reply


class LedgerEffect(NamedTuple):
    """How one event moves the ledger (ingest.lua's meta): ``kind`` 'f' adds ``a`` to a flow
    counter (``t``: its TTL); 'c' sets a content object's size (``t``: event time, ms); 'd' sets a
    dataset's records ``a`` and raw bytes ``b`` (``t``: event time, ms); 'm' moves nothing (a
    dataset's metadata: ``key`` is the dataset's, its row goes to ``dataset_metadata``)."""

    kind: str
    key: str
    a: int
    b: int
    t: int


class LedgerEvent(NamedTuple):
    """One event for ingest.lua: its dedup key, signatory, effect, check-id alias and history row."""

    seen_key: str
    signatory: str
    effect: LedgerEffect
    alias: str  # the seen key of the check this api.call event reports ('' = none)
    row: bytes


class Transfer(NamedTuple):
    """A dataset or object whose owner a batch changed (an unbound sender's snapshot)."""

    item: str  # "ds:{dataset}" or "obj:{name}"
    old: str
    new: str


class IngestResult(NamedTuple):
    accepted: int
    duplicates: int
    unattributed: int  # accepted events counted for ``unattributed``
    transfers: list[Transfer] = []  # noqa: RUF012 - a NamedTuple default, never mutated


class Settled(NamedTuple):
    """reservation.lua's answer: what the committed or released reservation was."""

    metric: str
    signatory: str
    reserved: int
    dataset: str


def pack_decisions(asks: Sequence[DecisionArgs]) -> tuple[bytes, bytes]:
    """decide.lua's ARGV[4] and ARGV[5]: each metric's constants once, then the decisions, each
    naming its metric by position (from 1), in two JSON arrays."""
    specs: dict[MetricArgs, int] = {}
    packed = []
    for spec, sig, host, dataset, amount, consume, seen, rid, rttl in asks:
        at = specs.get(spec)
        if at is None:
            at = specs[spec] = len(specs) + 1
        packed.append((at, sig, host, dataset, amount, consume, seen, rid, rttl))
    return orjson.dumps([tuple(spec) for spec in specs]), orjson.dumps(packed)


def unpack_verdicts(reply: Sequence[Any]) -> list[Verdict]:
    # one iterator read ANSWER_WIDTH (7) at a time: no slice and no call per decision
    it = iter(reply)
    return [Verdict(int(allowed) == 1, as_text(scope), int(limit), int(used), int(remaining), as_text(sig),
                    as_text(note))
            for allowed, scope, limit, used, remaining, sig, note in zip(it, it, it, it, it, it, it)]


def pack_events(events: Sequence[LedgerEvent]) -> tuple[str, str, bytes]:
    """ingest.lua's three list arguments: the seen keys, the metas (kind, signatory, key, a, b, t,
    alias) and the rows, each list's values joined by a newline."""
    seen = "\n".join([ev.seen_key for ev in events])
    metas = "\n".join([f"{e.kind}{SEP}{ev.signatory}{SEP}{e.key}{SEP}{e.a}{SEP}{e.b}{SEP}{e.t}{SEP}{ev.alias}"
                       for ev in events for e in (ev.effect,)])
    return seen, metas, b"\n".join([ev.row for ev in events])


def unpack_settled(reply: Sequence[Any]) -> Settled:
    metric, sig, reserved, dataset = (as_text(v) for v in reply)
    return Settled(metric, sig, int(reserved), dataset)
