"""Coalescer: concurrent callers share one Redis round trip.

redis-py costs ~150-200 us of Python per call, which caps one process at a few thousand calls a
second; Redis itself could do far more. So while one script call is in flight, new decisions
queue up, and the next call takes them all (up to ``max_batch``). Under load a call carries
dozens of decisions; alone, a decision goes out at once, with no timer.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R]]], max_batch: int = 256) -> None:
        self._run = run
        self._max_batch = max_batch
        self._queue: deque[tuple[list[T], asyncio.Future[list[R]]]] = deque()
        self._draining = False

    async def submit(self, items: list[T]) -> list[R]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[R]] = loop.create_future()
        self._queue.append((items, future))
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[list[T], asyncio.Future[list[R]]]]:
        taken: list[tuple[list[T], asyncio.Future[list[R]]]] = []
        size = 0
        while self._queue and (not taken or size + len(self._queue[0][0]) <= self._max_batch):
            entry = self._queue.popleft()
            taken.append(entry)
            size += len(entry[0])
        return taken

    async def _drain(self) -> None:
        try:
            while self._queue:
                taken = self._take()
                try:
                    results = await self._run([item for items, _ in taken for item in items])
                except Exception as exc:
                    if len(taken) > 1 and getattr(exc, "nothing_changed", False):
                        await self._one_by_one(taken)  # one caller's bad input fails that caller only
                        continue
                    for _, future in taken:  # every caller of this round trip gets the failure
                        if not future.done():
                            future.set_exception(exc)
                    continue
                start = 0
                for items, future in taken:
                    if not future.done():
                        future.set_result(list(results[start:start + len(items)]))
                    start += len(items)
        finally:
            self._draining = False

    async def _one_by_one(self, taken: list[tuple[list[T], asyncio.Future[list[R]]]]) -> None:
        for items, future in taken:
            try:
                result = list(await self._run(items))
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(result)
