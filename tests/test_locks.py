"""The one lock helper (meter/ledger/locks.py) and the outbox's claims, on the real Redis."""
import asyncio
from datetime import UTC, datetime

import pytest

from meter.core.clock import FixedClock
from meter.ledger.keys import Keys
from meter.ledger.locks import Locks
from meter.ledger.outbox import OutboxStore
from meter.mail.outbox import Entry, Outbox

pytestmark = [pytest.mark.redis]


async def test_a_renewed_lock_outlives_its_ttl_and_keeps_others_out(redis_client, pool_id):
    locks = Locks(redis_client, Keys(pool_id))
    async with locks.hold("x", 0.3, renew=True) as held:
        assert held.acquired
        await asyncio.sleep(1.0)  # three times its life
        async with locks.hold("x", 0.3) as other:
            assert not other.acquired
        assert not held.lost
    assert not await redis_client.exists(Keys(pool_id).lock("x"))  # released at the block's end


async def test_a_holder_whose_lock_expired_does_not_release_the_next_holders(redis_client, pool_id):
    locks = Locks(redis_client, Keys(pool_id))
    async with locks.hold("x", 0.2) as first:
        await asyncio.sleep(0.4)  # expired
        async with locks.hold("x", 5) as second:
            assert first.acquired and second.acquired
            await first.__aexit__(None, None, None)  # the first ends while the second holds it
            assert first.lost
            assert await redis_client.get(Keys(pool_id).lock("x")) == second.token.encode()


async def test_take_lets_the_lock_expire_instead_of_releasing_it(redis_client, pool_id):
    locks = Locks(redis_client, Keys(pool_id))
    assert await locks.take("job", 0.3)
    assert not await locks.take("job", 0.3)
    await asyncio.sleep(0.4)
    assert await locks.take("job", 0.3)


async def test_an_entry_claimed_by_a_delivery_that_died_goes_out_at_the_next_delivery(redis_client, pool_id):
    keys, clock = Keys(pool_id), FixedClock(datetime(2026, 4, 20, 12, 0, tzinfo=UTC))
    store, sent = OutboxStore(redis_client, keys), []

    async def transport(entry):
        sent.append(entry["id"])

    outbox = Outbox(store, Locks(redis_client, keys), clock, {"mail": transport}, lock_s=5)
    await outbox.put(Entry("m1", "mail", b"body", {}))
    now = int(clock.now().timestamp() * 1000)
    assert await store.claim("m1", now, now + 3_600_000, "dead-token") is not None  # then the process died
    assert await store.claim("m1", now, now + 3_600_000, "other") is None  # claimed: nobody else takes it
    assert not await store.retry_now("m1", now)  # nor does an admin's retry make it due
    assert await outbox.deliver_due() == 1 and sent == ["m1"]  # the lock is free: its claimant is gone
    assert (await outbox.status("m1"))["status"] == "sent"
    assert await outbox.deliver_due() == 0 and sent == ["m1"]
