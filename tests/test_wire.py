"""The scripts' layouts (meter/ledger/wire.py) against what the Lua scripts read, and the one
retry after LEDGER_LOST (meter/ledger/rebuilt.py)."""
import re

import pytest

from meter.core.errors import LedgerLost
from meter.ledger import scripts
from meter.ledger.rebuilt import once_rebuilt
from meter.ledger.wire import (
    ANSWER_WIDTH,
    FLOWS,
    SEP,
    DecisionArgs,
    LedgerEffect,
    LedgerEvent,
    Settled,
    Verdict,
    pack_decision,
    pack_events,
    unpack_settled,
    unpack_verdicts,
)

ARGS = DecisionArgs(metric="dataset_records", signatory="", host="h.example", dataset="d1", amount=5, consume=True,
                    enforce=False, counter="", counter_ttl_s=0, cap=300, dataset_cap=300, allotments="",
                    seen_key="k", reserve_id="r1", reserve_ttl_ms=60_000)


def test_a_decision_packs_to_the_fields_decide_lua_parses():
    width = int(re.search(r"#f ~= (\d+)", scripts.source("decide"))[1])
    fields = pack_decision(ARGS).split(SEP)
    assert len(fields) == width == 16
    assert fields == ["r", "dataset_records", "", "h.example", "d1", "5", "1", "0", "", "0", "300", "300", "", "k",
                      "r1", "60000"]


def test_a_check_without_a_dataset_cap_leaves_the_field_empty():
    check = DecisionArgs("api_calls", "s1", "", "", 1, False, True, "c", 10, 99, None, "al", "")
    assert pack_decision(check).split(SEP) == ["c", "api_calls", "s1", "", "", "1", "0", "1", "c", "10", "99", "",
                                               "al", "", "", "0"]


def test_replies_unpack_to_one_verdict_per_decision():
    assert f"Returns {ANSWER_WIDTH} values per decision" in scripts.source("decide")
    reply = [1, b"pool", 100, 3, 97, b"s1", b"", 0, b"signatory", 10, 10, 0, b"s2", b"shadow"]
    assert unpack_verdicts(reply) == [Verdict(True, "pool", 100, 3, 97, "s1", ""),
                                      Verdict(False, "signatory", 10, 10, 0, "s2", "shadow")]
    assert unpack_settled([b"api_calls", b"s1", b"7", b""]) == Settled("api_calls", "s1", 7, "")


def test_events_pack_three_values_each_with_the_meta_ingest_lua_matches():
    meta_re = re.search(r"local META = '(.*)'", scripts.source("ingest"))[1].replace("\\31", SEP)
    ev = LedgerEvent("seen", "s1", LedgerEffect("d", "ds", 10, 20, 1234), "alias", b"{}")
    packed = pack_events([ev, ev._replace(alias="")])
    assert len(packed) == 6 and packed[0] == "seen" and packed[2] == b"{}"
    assert re.match(meta_re.replace("%a", "[A-Za-z]").replace("%d", r"\d"), packed[1])
    assert packed[1].split(SEP) == ["d", "s1", "ds", "10", "20", "1234", "alias"]


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


def test_the_flows_a_check_consumes_are_named_as_decide_lua_header_says():
    assert "ARGV[5]  the flows a consuming check counts, joined by \\31" in scripts.source("decide")
    assert FLOWS.split(SEP) == ["api_calls", "update_bytes"]
