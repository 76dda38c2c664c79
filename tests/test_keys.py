"""Redis keys: one module builds them; the Lua scripts derive a few from the pool's prefix, and
this keeps the two spellings the same (pure)."""
import re
from importlib import resources

from meter.ledger.keys import Keys

K = Keys("p")
# what each name a script appends to the prefix must be, as meter/ledger/keys.py builds it
BUILT = {
    "denial_minutes": K.denial_minutes, "denials:": K.denials(7)[:-1], "ds:": K.dataset("x")[:-1],
    "held:": K.held("m")[:-1], "hosts": K.hosts, "ledger_epoch": K.ledger_epoch,
    "index:ds": K.datasets_index, "index:obj": K.objects_index,
    "resv:": K.reservation("r")[:-1], "resv_expired:": K.reservation_expired("r")[:-1],
    "resv_expiry": K.reservations, "seen:": K.seen_digest("x")[:-1],
    "signatory_ids": K.signatory_ids,
    "stock:": K.stock("m")[:-1],
    **{f"stock:{m}": K.stock(m) for m in ("records", "raw_bytes", "content_bytes")},
}


def lua_names() -> set[str]:
    names = set()
    for entry in resources.files("meter.ledger").joinpath("lua").iterdir():
        names |= set(re.findall(r"prefix \.\. '([a-z_:]+)'", entry.read_text()))
    return names


def test_every_key_a_script_derives_is_the_one_keys_builds():
    names = lua_names()
    assert names == set(BUILT), f"a script derives a key meter/ledger/keys.py does not know: {names - set(BUILT)}"
    for name, built in BUILT.items():
        assert built == K.prefix + name, name


def test_every_key_carries_the_pool_hash_tag():
    assert K.prefix == "meter:{p}:"
    assert all(k.startswith("meter:{p}:") for k in (K.stream, K.backlog, K.seen("s", "i"), K.flow("m", "2026-04"),
                                                    K.allotments("m", "current"), K.lock("writer")))
    assert K.seen("s", "i") != K.seen("s", "j") != K.seen_check("i")


def test_a_bound_senders_dedup_keys_are_its_signatorys_own():
    assert K.seen("s", "i", "loiret") not in (K.seen("s", "i"), K.seen("s", "i", "cher"), K.seen("loiret", "s\x00i"))


def test_the_elastic_index_keys_are_the_pools_and_per_metric_and_period():
    keys = {K.elastic("api_calls", "2026-04"), K.elastic_rank("api_calls", "2026-04"),
            K.elastic("api_calls", "2026-05"), K.elastic("update_bytes", "2026-04-20")}
    assert len(keys) == 4 and all(k.startswith(K.prefix) for k in keys)
