"""The elastic protection index: it always equals the sum it stands for (the Python twin and
decide.lua's own, on the real Redis), protection ends with the period, the simulator's rules
answer as decide.lua does on shared cases, and concurrent checks never pass the pool's cap."""
from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
import redis.asyncio as redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meter.allocation.elastic import others_protected, protected
from meter.allocation.enforce import Ledger, ProtectionIndex
from meter.allocation.service import Allocator
from meter.core.clock import FixedClock
from meter.core.periods import month_of
from meter.decision.engine import Decider
from meter.decision.model import Ask
from meter.ledger.allotments import AllotmentStore
from meter.ledger.keys import Keys
from meter.ledger.redis_decisions import RedisDecisions
from meter.observability.telemetry import Telemetry
from tests.conftest import REDIS_URL, delete_pool_keys, make_config

APRIL = datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # local midnight, 1 April 2026 in Paris
LENGTH = 30 * 86_400
SIDS = ["a", "b", "c", "d"]

allotments = st.dictionaries(st.sampled_from(SIDS), st.integers(0, 60), min_size=1)
# a step: (seconds forward, signatory, calls)
steps = st.lists(st.tuples(st.integers(0, LENGTH // 6), st.sampled_from(SIDS), st.integers(0, 25)), max_size=14)
slow = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# the Python twin


@given(allotments, steps)
def test_the_index_equals_the_sum_it_stands_for(shares, moves):
    index, used, elapsed = ProtectionIndex(shares, LENGTH), dict.fromkeys(shares, 0), 0
    for forward, sid, calls in moves:
        elapsed = min(elapsed + forward, LENGTH)
        index.advance(elapsed)
        if sid in shares:
            used[sid] += calls
            index.update(sid, used[sid])
        assert index.total() == others_protected(shares, used, elapsed, LENGTH)
        for who in SIDS:
            assert index.others_ceil(who) == math.ceil(others_protected(shares, used, elapsed, LENGTH, but=who))


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, LENGTH))
def test_protection_reaches_zero_at_the_period_end_and_never_passes_what_is_unused(a, u, length):
    assert protected(a, u, length, length) == 0
    for elapsed in (0, length // 3, length - 1):
        assert 0 <= protected(a, u, elapsed, length) <= max(0, a - u)
        assert protected(a, u, elapsed, length) <= Fraction(a * (length - elapsed), length)


@given(allotments, steps)
def test_the_index_protects_nothing_at_the_period_end(shares, moves):
    index = ProtectionIndex(shares, LENGTH)
    for _, sid, calls in moves:
        if sid in shares:
            index.update(sid, index.used[sid] + calls if sid in index.used else calls)
    index.advance(LENGTH)
    assert index.total() == 0


def test_a_steady_user_keeps_what_it_still_needs():
    ledger = Ledger(1100, {"steady": 500, "heavy": 500}, elastic_length=100)  # 100 nobody's
    assert ledger.serve("steady", 50, elapsed=10) == 50  # on pace at f = 0.1
    assert ledger.serve("heavy", 1000, elapsed=10) == 500 + 100  # steady keeps all of its 450
    assert ledger.serve("steady", 450, elapsed=10) == 450
    assert ledger.serve("steady", 1, elapsed=10) == 0  # the pool is full


# decide.lua, on the real Redis


def run(coro):
    return asyncio.run(coro)


class Pool:
    """A pool on the real Redis with stored allotments, and a decider on it (one per connection)."""

    def __init__(self, policy: str, cap: int, shares: dict[str, int], burst: int = 0) -> None:
        self.id = f"t-{uuid.uuid4().hex[:10]}"
        self.keys = Keys(self.id)
        extra = f'[caps]\napi_calls = {cap}\n[allocation]\npolicy = "{policy}"\nunattributed_share = 0\n'
        self.config = make_config(self.id, extra)
        self.clock = FixedClock(APRIL + timedelta(seconds=1))
        self.policy, self.shares, self.burst = policy, shares, burst
        self.clients: list[redis.Redis] = []

    async def __aenter__(self) -> Pool:
        client = self.client()
        await client.set(self.keys.ledger_epoch, 1)
        await client.sadd(self.keys.signatory_ids, *SIDS)
        if self.policy != "none":
            allocator = Allocator(AllotmentStore(client, self.keys), None, None, self.config, self.clock, Telemetry())
            period = month_of(self.clock.now(), self.config.tz)
            doc = {"pool": self.id, "period": period.label, "policy": self.policy, "inputs": {},
                   "signatories": {sid: {"api_calls": a} for sid, a in self.shares.items()},
                   "burst": {"api_calls": self.burst} if self.burst else {}, "explanation": "", "explanation_fr": ""}
            await allocator._store(period, doc, "test", current=True, fingerprint="test")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await delete_pool_keys(self.clients[0], self.id)
        for client in self.clients:
            await client.aclose()

    def client(self) -> redis.Redis:
        self.clients.append(redis.Redis.from_url(REDIS_URL))
        return self.clients[-1]

    def decider(self) -> Decider:
        return Decider(RedisDecisions(self.client(), self.keys, 3600, 5.0), self.config, self.clock, Telemetry())

    async def counters(self) -> dict[str, int]:
        raw = await self.clients[0].hgetall(self.keys.flow("api_calls", "2026-04"))
        return {k.decode(): int(v) for k, v in raw.items()}

    async def index_total(self) -> tuple[int, int, int]:
        """What decide.lua's index says: (sum x T, e, T)."""
        e, sa, sx = await self.clients[0].hmget(self.keys.elastic("api_calls", "2026-04"), "_e", "_sa", "_sx")
        return (LENGTH - int(e)) * int(sa) + LENGTH * int(sx), int(e), LENGTH


@pytest.mark.redis
@slow
@given(shares=allotments, moves=steps)
def test_the_scripts_index_equals_the_sum_it_stands_for(shares, moves):
    async def scenario():
        async with Pool("elastic", 200, shares) as pool:
            decider = pool.decider()
            for forward, sid, calls in moves:
                pool.clock.set(pool.clock.now() + timedelta(seconds=forward))
                await decider.decide([Ask("api_calls", 1, sid) for _ in range(calls)] or [Ask("api_calls", 0, sid)])
                total, e, length = await pool.index_total()
                used = await pool.counters()
                assert e == min(int((pool.clock.now() - APRIL).total_seconds()), LENGTH)
                assert total == others_protected(shares, used, e, length) * length
    run(scenario())


POLICY_CASES = [("none", 0), ("equal", 0), ("max_min_fair", 0), ("reserved", 30), ("elastic", 0)]


@pytest.mark.redis
@slow
@pytest.mark.parametrize("policy,burst", POLICY_CASES)
@given(shares=allotments, moves=steps, cap=st.integers(0, 250))
def test_the_simulators_rules_answer_as_decide_lua(policy, burst, shares, moves, cap):
    async def scenario():
        async with Pool(policy, cap, shares, burst) as pool:
            decider = pool.decider()
            twin = Ledger(cap, None if policy == "none" else shares, burst if policy == "reserved" else None,
                          LENGTH if policy == "elastic" else None)
            for forward, sid, calls in moves:
                pool.clock.set(pool.clock.now() + timedelta(seconds=forward))
                elapsed = int((pool.clock.now() - APRIL).total_seconds())
                answers = await decider.decide([Ask("api_calls", 1, sid) for _ in range(calls)])
                assert sum(d.allowed for d in answers) == twin.serve(sid, calls, elapsed), (sid, calls, elapsed)
    run(scenario())


@pytest.mark.redis
@slow
@given(shares=allotments, cap=st.integers(0, 150), late=st.integers(0, LENGTH - 2),
       asks=st.lists(st.tuples(st.sampled_from(SIDS), st.integers(1, 9)), min_size=1, max_size=40))
def test_the_pool_is_never_over_its_cap_under_concurrent_checks(shares, cap, late, asks):
    async def scenario():
        async with Pool("elastic", cap, shares) as pool:
            pool.clock.set(APRIL + timedelta(seconds=late))
            deciders = [pool.decider() for _ in range(4)]
            calls = [deciders[i % 4].decide([Ask("api_calls", n, sid)]) for i, (sid, n) in enumerate(asks)]
            answers = [d for batch in await asyncio.gather(*calls) for d in batch]
            used = await pool.counters()
            assert used.get("*", 0) <= cap
            assert used.get("*", 0) == sum(n for (sid, n), d in zip(asks, answers) if d.allowed)
    run(scenario())


@pytest.mark.redis
def test_an_index_of_thousands_is_built_in_one_decision():
    many = {f"m{i:05}": 10 for i in range(5_000)}

    async def scenario():
        async with Pool("elastic", 100_000, many) as pool:
            await pool.clients[0].sadd(pool.keys.signatory_ids, *many)
            pool.clock.set(APRIL + timedelta(seconds=LENGTH // 2))
            [decision] = await pool.decider().decide([Ask("api_calls", 1, "m00000")])
            assert decision.allowed
            index = pool.keys.elastic("api_calls", "2026-04")
            assert await pool.clients[0].hlen(index) == 3 + 5_000
            total, e, length = await pool.index_total()
            assert total == others_protected(many, {"m00000": 1}, e, length) * length
    run(scenario())
