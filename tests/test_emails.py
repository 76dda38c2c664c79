"""Email addresses are checked as addresses, one per entry (DESIGN §4), by email-validator."""
from __future__ import annotations

import pytest

from meter.config.settings import parse_pool_config
from meter.core.addresses import address_problem
from meter.core.errors import ConfigError
from tests.conftest import auth

CHANGE_RECIPIENTS = ["a,victim@evil.example", "a@x.example;b@y.example", '"a,b"@x.example',
                     "Jean <jean@x.example>", "a@x.example\r\nBcc: b@y.example"]


@pytest.mark.parametrize("address", [*CHANGE_RECIPIENTS, "nobody", "a@b", "a@@x.example", "a b@x.example"])
def test_what_is_not_one_address_is_refused(address):
    assert address_problem(address)


@pytest.mark.parametrize("address", ["sig@region.example.org", "jean.dupont@loiret.fr", "élu@mairie.example.fr",
                                     "a+b@x.example"])
def test_addresses_are_accepted(address):
    assert address_problem(address) is None


@pytest.mark.redis
@pytest.mark.chdb
async def test_a_signatorys_address_that_would_add_recipients_is_400(client):
    for address in CHANGE_RECIPIENTS[:3]:
        body = {"name": "Loiret", "kind": "departement", "emails": ["ok@loiret.example", address]}
        resp = await client.put("/v1/signatories/loiret", json=body, headers=auth("admin"))
        assert resp.status == 400, address
        [problem] = (await resp.json())["error"]["details"]
        assert problem["field"] == "emails" and repr(address) in problem["reason"]


def test_a_pool_files_admin_address_that_would_add_recipients_stops_start_up():
    with pytest.raises(ConfigError, match="one address per entry"):
        parse_pool_config('[reports]\nadmins = ["a,victim@evil.example"]\n')
