"""The scripts' layouts (meter/ledger/wire.py) against what the Lua scripts read, and the one
retry after LEDGER_LOST (meter/ledger/rebuilt.py)."""
import re

import orjson
import pytest

from meter.core.errors import LedgerLost
from meter.ledger import scripts
from meter.ledger.rebuilt import once_rebuilt
from meter.ledger.wire import (
    ANSWER_WIDTH,
    ASK,
    METRIC,
    REPLY,
    SEP,
    DecisionArgs,
    LedgerEffect,
    LedgerEvent,
    MetricArgs,
    Settled,
    Verdict,
    pack_decisions,
    pack_events,
    unpack_settled,
    unpack_verdicts,
)

RECORDS = MetricArgs(metric="dataset_records", flow=False, per_dataset=True, counter="", counter_ttl_s=0, cap=300,
                     allotments="", enforce=False)
CALLS = MetricArgs("api_calls", True, False, "c", 10, 99, "al", True)
ARGS = DecisionArgs(metric=RECORDS, signatory="", host="h.example", dataset="d1", amount=5, consume=True,
                    seen_key="k", reserve_id="r1", reserve_ttl_ms=60_000)


def lua_locals(pattern: str) -> list[str]:
    """The names of the locals a line of decide.lua (its included files too) unpacks."""
    found = re.search(pattern, scripts.source("decide"))
    assert found, pattern
    return [name.strip() for name in found[1].split(",")]


def test_decide_lua_unpacks_the_positions_wire_names():
    assert lua_locals(r"local (metric, flow, [^=]*) = unpack\(fields\)") == list(METRIC)
    assert lua_locals(r"local (metric, signatory, [^=]*) = unpack\(fields\)") == list(ASK)
    assert lua_locals(r"local function reply\(([^)]*)\)") == list(REPLY)


def test_each_metric_is_sent_once_and_decisions_name_it_by_position():
    check = DecisionArgs(CALLS, "s1", "", "", 1, False, "")
    metrics, decisions = pack_decisions([ARGS, check, check._replace(amount=2)])
    assert orjson.loads(metrics) == [["dataset_records", False, True, "", 0, 300, "", False],
                                     ["api_calls", True, False, "c", 10, 99, "al", True]]
    assert orjson.loads(decisions) == [[1, "", "h.example", "d1", 5, True, "k", "r1", 60_000],
                                       [2, "s1", "", "", 1, False, "", "", 0],
                                       [2, "s1", "", "", 2, False, "", "", 0]]
    assert pack_decisions([]) == (b"[]", b"[]")


def test_replies_unpack_to_one_verdict_per_decision():
    assert f"Returns {ANSWER_WIDTH} values per decision" in scripts.source("decide")
    reply = [1, b"pool", 100, 3, 97, b"s1", b"", 0, b"signatory", 10, 10, 0, b"s2", b"shadow"]
    assert unpack_verdicts(reply) == [Verdict(True, "pool", 100, 3, 97, "s1", ""),
                                      Verdict(False, "signatory", 10, 10, 0, "s2", "shadow")]
    assert unpack_settled([b"api_calls", b"s1", b"7", b""]) == Settled("api_calls", "s1", 7, "")


def test_events_pack_three_lists_with_the_meta_ingest_lua_matches():
    meta_re = re.search(r"local META = '(.*)'", scripts.source("ingest"))[1].replace("\\31", SEP)
    ev = LedgerEvent("seen", "s1", LedgerEffect("d", "ds", 10, 20, 1234), "alias", b"{}")
    seen, metas, rows = pack_events([ev, ev._replace(seen_key="seen2", alias="", row=b'{"a":1}')])
    assert seen.split("\n") == ["seen", "seen2"] and rows.split(b"\n") == [b"{}", b'{"a":1}']
    first, second = metas.split("\n")
    assert re.match(meta_re.replace("%a", "[A-Za-z]").replace("%d", r"\d"), first)
    assert first.split(SEP) == ["d", "s1", "ds", "10", "20", "1234", "alias"]
    assert second.split(SEP)[-1] == ""


async def test_a_lost_ledger_is_rebuilt_then_the_call_made_once_more():
    calls, rebuilt = [], []

    async def call():
        calls.append(1)
        if not rebuilt:
            raise LedgerLost("lost")
        return "answer"

    async def rebuild():
        rebuilt.append(1)

    assert await once_rebuilt(call, rebuild) == "answer"
    assert len(calls) == 2 and len(rebuilt) == 1


async def test_without_a_rebuild_the_loss_is_raised():
    async def call():
        raise LedgerLost("lost")

    with pytest.raises(LedgerLost):
        await once_rebuilt(call, None)
