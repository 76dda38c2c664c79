"""Acknowledged writes survive a failover: WAIT for replicas before a 2xx (DESIGN §7).

Redis replicates asynchronously: a master that answers a write and dies before its replica has
it takes the write with it, and the promoted replica never saw it. With
``METER_REDIS_WAIT_REPLICAS=n``, the scripts behind an answer of 2xx (events, consuming checks,
reservations, commits) are followed by ``WAIT n ms`` on the same connection, so the same master
reports how many replicas hold everything that connection wrote. Fewer than n within
``METER_REDIS_WAIT_MS`` is ``ReplicasBehind`` (503): the write may be kept or lost, and either way
the client's retry is counted once (the event's id, the check's id).

WAIT counts the writes of its own connection, so the script and the WAIT go in one pipeline,
and on a cluster the WAIT is routed to the node that holds the script's slot (whose connection in
that pipeline carried the script). Should the script be redirected to another node (a failover
that the client learns of on that very call), the WAIT measured the wrong node: that answer is a
503 too.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import redis.asyncio as redis
from redis import exceptions as rex
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from meter.core.errors import ReplicasBehind
from meter.ledger.client import is_cluster
from meter.ledger.lean import LeanScripts


class Replication:
    def __init__(self, client: redis.Redis, replicas: int = 0, wait_ms: int = 100) -> None:
        self.client = client
        self.replicas = replicas
        self.wait_ms = wait_ms
        self._cluster = cast(RedisCluster, client) if is_cluster(client) else None
        self._loaded: set[str] = set()  # scripts loaded once up front: a NOSCRIPT would cost a second wait

    @property
    def waits(self) -> bool:
        return self.replicas > 0

    @property
    def extra_s(self) -> float:
        """How much longer a waited write may take than one that is not."""
        return self.wait_ms / 1000 if self.waits else 0.0

    async def run(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any], wait: bool = True) -> Any:
        """The script's reply; with ``wait`` (and replicas asked for), only once n replicas hold it."""
        if not (wait and self.waits):
            return await script(keys=keys, args=args)
        if script.sha not in self._loaded:
            await self.client.script_load(script.script)  # a cluster loads it on every master
            self._loaded.add(script.sha)
        try:
            return await self._run_and_wait(script, keys, args)
        except rex.NoScriptError:  # a restarted, flushed or newly promoted master: nothing ran
            await self.client.script_load(script.script)
            return await self._run_and_wait(script, keys, args)

    async def command(self, key: str, *command: Any) -> Any:
        """One plain command on ``key``, its reply once the replicas asked for hold it."""
        if not self.waits:
            return await cast(Any, self.client).execute_command(*command)
        return await self._wait_after(key, lambda pipe: pipe.execute_command(*command))

    async def _run_and_wait(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return await self._wait_after(keys[0], lambda pipe: pipe.evalsha(script.sha, len(keys), *keys, *args))

    async def _wait_after(self, key: str, queue: Callable[[Any], Any]) -> Any:
        pipe: Any = self.client.pipeline(transaction=False)
        queue(pipe)
        node = None
        if self._cluster is not None:
            await self._cluster.initialize()  # the first call, or a refresh of the topology that is due
            node = self._cluster.get_node_from_key(key)
            pipe.execute_command("WAIT", self.replicas, self.wait_ms, target_nodes=node)
        else:
            pipe.execute_command("WAIT", self.replicas, self.wait_ms)
        reply, acked = await pipe.execute(raise_on_error=False)
        if isinstance(reply, Exception):
            raise reply  # the script's own refusal, or NOSCRIPT: whatever WAIT said does not matter
        if node is not None and getattr(cast(RedisCluster, self._cluster).get_node_from_key(key), "name",
                                        None) != node.name:
            raise ReplicasBehind("the Redis cluster moved this pool while writing: the write is not known to be "
                                 "replicated; retry (it is deduplicated)", retry_after_s=1)
        self._check(acked)
        return reply

    async def run_lean(self, lean: LeanScripts, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any],
                       wait: bool = True, timeout_s: float | None = None) -> Any:
        """``run`` on the hot path's own connection (``lean.py``; never a cluster); each round
        trip within ``timeout_s`` (``TimeoutError``)."""
        command = ["EVALSHA", script.sha, len(keys), *keys, *args]
        try:
            return await self._lean_once(lean, command, wait, timeout_s)
        except rex.NoScriptError:  # a restarted or flushed Redis: nothing ran
            await lean.call("SCRIPT", "LOAD", script.script, timeout_s=timeout_s)
            return await self._lean_once(lean, command, wait, timeout_s)

    async def _lean_once(self, lean: LeanScripts, command: list[Any], wait: bool, timeout_s: float | None) -> Any:
        if not (wait and self.waits):
            return await lean.call(*command, timeout_s=timeout_s)
        reply, acked = await lean.calls(command, ["WAIT", self.replicas, self.wait_ms], timeout_s=timeout_s)
        if isinstance(reply, Exception):
            raise reply
        self._check(acked)
        return reply

    def _check(self, acked: Any) -> None:
        if isinstance(acked, Exception):  # the node was demoted to a replica meanwhile
            raise ReplicasBehind(f"Redis could not confirm the write's replication ({acked}); retry (it is "
                                 "deduplicated)", retry_after_s=1)
        if int(acked) < self.replicas:
            raise ReplicasBehind(f"the write reached {int(acked)} of {self.replicas} Redis replicas within "
                                 f"{self.wait_ms} ms, so a failover could lose it; retry (it is deduplicated)",
                                 retry_after_s=1)
