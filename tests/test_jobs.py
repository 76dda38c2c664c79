"""The scheduled jobs' Redis side on real Redis: one run per pool, and the release of expired
reservations when no decision comes to do it."""
from datetime import UTC, datetime

import pytest

from meter.http import appkeys
from meter.ledger.keys import Keys
from meter.ledger.redis_jobs import RedisJobs
from tests.conftest import auth

pytestmark = [pytest.mark.redis]


async def test_one_process_of_the_pool_takes_a_jobs_lock(redis_client, pool_id):
    first, second = RedisJobs(redis_client, Keys(pool_id)), RedisJobs(redis_client, Keys(pool_id))
    assert await first.take_lock("reconcile", 5_000)
    assert not await second.take_lock("reconcile", 5_000)
    assert await second.take_lock("flush_denials", 5_000)  # each job has its own lock
    assert 0 < await redis_client.pttl(Keys(pool_id).lock("job:reconcile")) <= 5_000


async def test_expired_reservations_are_released_without_traffic(client):
    resp = await client.post("/v1/reservations", json={"signatory": "x", "metric": "update_bytes", "amount": 10,
                                                       "ttl_s": 60}, headers=auth("gateway"))
    rid = (await resp.json())["id"]
    decisions, keys = client.app[appkeys.DECIDER].ledger, client.app[appkeys.LEDGER].keys
    assert await decisions.reserved(rid) == ("update_bytes", "unattributed")
    later = datetime(2026, 4, 20, 12, 1, 1, tzinfo=UTC)
    await decisions.release_expired_reservations(int(later.timestamp() * 1000))
    assert await decisions.reserved(rid) is None
    assert not await client.app[appkeys.LEDGER].client.exists(keys.reservation(rid))
