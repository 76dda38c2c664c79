"""The coalescer (pure asyncio): concurrent callers share a round trip, and one caller's bad
input fails that caller only."""
import asyncio

import pytest

from meter.core.errors import ScriptRefused
from meter.decision.batcher import Coalescer


class Round:
    """What the round trip would do: doubles each item; refuses a batch holding a negative one,
    before changing anything, as the ledger scripts do; fails outright on 'boom'."""

    def __init__(self) -> None:
        self.calls: list[list] = []

    async def __call__(self, items: list) -> list:
        self.calls.append(list(items))
        await asyncio.sleep(0.01)  # in flight: later callers queue up behind this call
        if "boom" in items:
            raise RuntimeError("the round trip failed")
        if any(isinstance(i, int) and i < 0 for i in items):
            raise ScriptRefused("BAD_META")
        return [i * 2 for i in items]


async def test_concurrent_callers_share_one_round_trip_and_get_their_own_answers():
    run = Round()
    c = Coalescer(run)
    first = asyncio.create_task(c.submit([1]))
    await asyncio.sleep(0)
    rest = await asyncio.gather(*(c.submit([i, i + 100]) for i in range(2, 6)))
    assert await first == [2] and rest == [[i * 2, (i + 100) * 2] for i in range(2, 6)]
    assert len(run.calls) == 2 and len(run.calls[1]) == 8  # the four queued callers in one call


async def test_a_refused_caller_fails_alone_and_the_others_are_answered():
    run = Round()
    c = Coalescer(run)
    first = asyncio.create_task(c.submit([1]))
    await asyncio.sleep(0)
    results = await asyncio.gather(c.submit([2]), c.submit([-3]), c.submit([4, 5]), return_exceptions=True)
    assert await first == [2]
    assert results[0] == [4] and results[2] == [8, 10]
    assert isinstance(results[1], ScriptRefused)
    assert run.calls[1:] == [[2, -3, 4, 5], [2], [-3], [4, 5]]  # shared, refused, then one by one


async def test_any_other_failure_reaches_every_caller_of_that_round_trip():
    run = Round()
    c = Coalescer(run)
    first = asyncio.create_task(c.submit([1]))
    await asyncio.sleep(0)
    results = await asyncio.gather(c.submit([2]), c.submit(["boom"]), return_exceptions=True)
    assert await first == [2]
    assert all(isinstance(r, RuntimeError) for r in results)  # not retried: it may have written
    assert len(run.calls) == 2
    with pytest.raises(RuntimeError):
        await c.submit(["boom"])
    assert await c.submit([7]) == [14]  # and the coalescer goes on


async def test_callers_arriving_together_share_the_first_round_trip():
    # the first caller does not go out alone: the call starts once the callers woken with it have queued
    run = Round()
    c = Coalescer(run)
    assert await asyncio.gather(*(c.submit([i]) for i in range(5))) == [[0], [2], [4], [6], [8]]
    assert run.calls == [[0, 1, 2, 3, 4]]
