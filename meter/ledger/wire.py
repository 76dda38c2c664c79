"""The Lua scripts' argument and reply layouts, in one place next to the scripts.

The domain hands the adapters typed values (``DecisionArgs``, ``LedgerEvent``); only this module
knows that decide.lua reads 16 fields joined by \\x1f per decision and answers 7 values per
decision, and that ingest.lua reads 3 values per event. Each layout is the one its script's
header documents (``ledger/lua/*.lua``); change both together.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from meter.core import quotas
from meter.ledger.client import as_text

SEP = "\x1f"
ANSWER_WIDTH = 7  # values per decision in decide.lua's reply
FLOWS = SEP.join(quotas.FLOW_NAMES)  # decide.lua's ARGV[5]: the metrics a consuming check counts


class DecisionArgs(NamedTuple):
    """One decision as decide.lua needs it: the ask, and the keys and limits that apply to it.

    A NamedTuple, not a frozen dataclass: it is built for every decision on the hot path, and a
    frozen dataclass's ``__init__`` costs several times more."""

    metric: str
    signatory: str  # '' = the script finds it from the host, then the dataset
    host: str
    dataset: str
    amount: int
    consume: bool
    enforce: bool
    counter: str  # a flow: the period's counter hash; a stock: its hash; '' for a per-dataset cap
    counter_ttl_s: int
    cap: int
    dataset_cap: int | None  # a per-dataset metric's cap, else None
    allotments: str  # the allotment hash; '' = no allocation
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
    note: str  # '' | 'replay' | 'shadow'


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


class IngestResult(NamedTuple):
    accepted: int
    duplicates: int
    unattributed: int  # accepted events counted for ``unattributed``


class Settled(NamedTuple):
    """reservation.lua's answer: what the committed or released reservation was."""

    metric: str
    signatory: str
    reserved: int
    dataset: str


def pack_decision(d: DecisionArgs) -> str:
    # unpacked positionally: reading 16 fields by name costs more, on every decision
    metric, sig, host, dataset, amount, consume, enforce, counter, ttl, cap, dscap, allot, seen, rid, rttl = d
    return SEP.join(("r" if rid else "c", metric, sig, host, dataset, str(amount), "1" if consume else "0",
                     "1" if enforce else "0", counter, str(ttl), str(cap), "" if dscap is None else str(dscap),
                     allot, seen, rid, str(rttl)))


def unpack_verdicts(reply: Sequence[Any]) -> list[Verdict]:
    # one iterator read ANSWER_WIDTH (7) at a time: no slice and no call per decision
    it = iter(reply)
    return [Verdict(int(allowed) == 1, as_text(scope), int(limit), int(used), int(remaining), as_text(sig),
                    as_text(note))
            for allowed, scope, limit, used, remaining, sig, note in zip(it, it, it, it, it, it, it)]


def pack_events(events: Sequence[LedgerEvent]) -> list[str | bytes]:
    """Three values per event: seen key, meta (kind, signatory, key, a, b, t, alias), row."""
    args: list[str | bytes] = []
    for ev in events:
        e = ev.effect
        args += [ev.seen_key, f"{e.kind}{SEP}{ev.signatory}{SEP}{e.key}{SEP}{e.a}{SEP}{e.b}{SEP}{e.t}{SEP}{ev.alias}",
                 ev.row]
    return args


def unpack_settled(reply: Sequence[Any]) -> Settled:
    metric, sig, reserved, dataset = (as_text(v) for v in reply)
    return Settled(metric, sig, int(reserved), dataset)
