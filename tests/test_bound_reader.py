"""What a bound reader sees names no other signatory (DESIGN §4): the allocation's explanation,
through the API and in its monthly report."""
from __future__ import annotations

import pytest

from meter.allocation.explain import anonymised
from tests.conftest import auth, make_config

pytestmark = [pytest.mark.redis, pytest.mark.chdb]
READER = {"Authorization": "Bearer loiret-reader-secret"}


@pytest.fixture
def config(pool_id):
    return make_config(pool_id, '[allocation]\npolicy = "weighted"\nweight = "weight"\n'
                                '[[tokens]]\nrole = "reader"\ntoken = "loiret-reader-secret"\nsignatory = "loiret"\n')


async def _register(client) -> None:
    # the clock is 2026-04-20: the late joiners count pro rata, and the explanation names them
    for sid, joined in (("loiret", "2020-01-01"), ("cher-18", "2026-04-10"), ("indre", "2026-04-12")):
        body = {"name": sid.title(), "kind": "departement", "joined_at": joined}
        assert (await client.put(f"/v1/signatories/{sid}", json=body, headers=auth("admin"))).status in (200, 201)
    assert (await client.post("/v1/allocations/recompute", json={}, headers=auth("admin"))).status == 200


async def test_a_bound_readers_allocation_explanation_names_no_other_partner(client):
    await _register(client)
    full = await (await client.get("/v1/allocations", headers=auth("reader"))).json()
    assert "Cher-18" in full["explanation"] and "Indre" in full["explanation_fr"]  # the unbound reader's
    own = await (await client.get("/v1/allocations", headers=READER)).json()
    assert set(own["signatories"]) == {"loiret"}
    for text in (own["explanation"], own["explanation_fr"]):
        assert "Cher" not in text and "Indre" not in text
    assert "a partner" in own["explanation"] and "un autre partenaire" in own["explanation_fr"]


def test_anonymising_replaces_whole_ids_only():
    text = "e.g. Cher (0.4), Cher-18 (0.3), Tours Métropole (1), Tours (0.2), 180000001 (0.5)."
    others = ["cher", "Cher", "cher-18", "Cher-18", "tours", "Tours", "180000001"]
    assert anonymised(text, others, ("tours-metropole", "Tours Métropole"), "en") == (
        "e.g. a partner (0.4), a partner (0.3), Tours Métropole (1), a partner (0.2), a partner (0.5).")
    assert anonymised("rien", [], ("loiret", "Loiret"), "fr") == "rien"


async def test_a_partners_report_quotes_the_explanation_without_other_partners(client):
    await _register(client)
    pool = await client.get("/v1/reports/2026-04/pool", params={"format": "text"}, headers=auth("reader"))
    assert pool.status == 200 and "Cher-18" in await pool.text()  # the Region's consolidated report names all
    mine = await client.get("/v1/reports/2026-04/loiret", params={"format": "text"}, headers=READER)
    text = await mine.text()
    assert mine.status == 200 and "un autre partenaire" in text
    assert "Cher-18" not in text and "Indre" not in text
