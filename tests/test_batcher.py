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


async def test_a_lone_caller_calls_from_its_own_task_and_those_queued_meanwhile_go_next():
    run = Round()
    tasks: list[asyncio.Task | None] = []

    async def traced(items: list) -> list:
        tasks.append(asyncio.current_task())
        return await run(items)

    c = Coalescer(traced)
    first = asyncio.create_task(c.submit(["boom"]))
    await asyncio.sleep(0)
    queued = asyncio.gather(c.submit([2]), c.submit([3]))
    with pytest.raises(RuntimeError):
        await first  # the lone call fails its caller only
    assert await queued == [[4], [6]]  # those who queued behind it go out together after it
    assert run.calls == [["boom"], [2, 3]]
    assert tasks[0] is first and tasks[1] is not first
    assert await c.submit([5]) == [10]  # idle again: the caller's own task makes the call
    assert tasks[2] is asyncio.current_task()
