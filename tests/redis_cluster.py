"""A real Redis Cluster on loopback: 3 masters, each with one replica (DESIGN §7).

Six ``redis-server --cluster-enabled yes`` in a temporary directory of their own, on free ports
(each with its bus port named by ``--cluster-port``, so nothing needs port + 10000 free), joined by
``redis-cli --cluster create ... --cluster-replicas 1``. Ready once every node says
``cluster_state:ok`` and every replica has finished its first sync: a master killed before that
is never replaced. Every node is stopped by its pid at the end.

``redis_cluster`` is session-scoped: the cluster starts once (about 8 s) for every test that asks
for it; tests keep to their own pool ids, as on the shared Redis. A test module puts its app on
the cluster by importing ``settings`` and ``redis_client`` from here.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest
import redis as redis_sync
import redis.asyncio as redis
from redis.cluster import RedisCluster as SyncRedisCluster

from meter.config.settings import Settings
from meter.ledger.client import connect
from tests.service import free_port

NODE_TIMEOUT_MS = 1500


@dataclass
class Node:
    port: int
    bus_port: int
    workdir: Path
    proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cli(self, *args: str | int, timeout: float = 2.0) -> object:
        """One command's reply (text), or None when the node does not answer."""
        client = redis_sync.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=timeout,
                                  decode_responses=True)
        try:
            return client.execute_command(*args)
        except (redis_sync.exceptions.ConnectionError, redis_sync.exceptions.TimeoutError):
            return None
        finally:
            client.close()

    def getkeys(self, *command: bytes | str) -> list[bytes]:
        """``COMMAND GETKEYS``: the keys of a command, as the server finds them."""
        client = redis_sync.Redis(port=self.port, socket_connect_timeout=0.5)
        client.set_response_callback("COMMAND", lambda reply, **_: reply)
        try:
            return list(client.execute_command("COMMAND", "GETKEYS", *command))
        finally:
            client.close()

    def info(self, section: str) -> dict:
        reply = self.cli("INFO", section)
        return reply if isinstance(reply, dict) else {}

    def cluster_state(self) -> str | None:
        reply = self.cli("CLUSTER", "INFO")
        if isinstance(reply, dict):
            return reply.get("cluster_state")
        if isinstance(reply, str):
            fields = dict(line.split(":", 1) for line in reply.splitlines() if ":" in line)
            return fields.get("cluster_state")
        return None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    workdir: Path
    masters: int = 3
    nodes: list[Node] = field(default_factory=list)
    started_in_s: float = 0.0

    @property
    def url(self) -> str:
        """``METER_REDIS_URL`` for the service: any one node (the first still alive)."""
        return f"redis://{self.live_nodes()[0].address}/0"

    def live_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.alive]

    def start(self) -> Cluster:
        binary = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if binary is None or cli is None:
            pytest.fail("no redis-server / redis-cli: apt-get install redis-server (scripts/test-deps.sh)")
        begun = time.monotonic()
        ports = _free_ports(self.masters * 4)
        for i in range(self.masters * 2):
            node = Node(ports[2 * i], ports[2 * i + 1], self.workdir / f"node-{i}")
            node.workdir.mkdir(parents=True, exist_ok=True)
            node.proc = subprocess.Popen(
                [binary, "--port", str(node.port), "--cluster-port", str(node.bus_port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--save", "", "--appendonly", "no",
                 "--maxmemory-policy", "noeviction", "--enable-debug-command", "local", "--dir", str(node.workdir),
                 "--logfile", str(node.workdir / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.nodes.append(node)
        try:
            for node in self.nodes:
                _until(lambda n=node: n.cli("PING") is True, 10, f"redis-server on {node.port} did not answer")
            subprocess.run([cli, "--cluster", "create", *(n.address for n in self.nodes), "--cluster-replicas", "1",
                            "--cluster-yes"], check=True, capture_output=True, timeout=60)
            self.wait_ready(30)
        except BaseException:
            self.stop()
            raise
        self.started_in_s = time.monotonic() - begun
        return self

    def wait_ready(self, timeout: float) -> None:
        """Every live node agrees the cluster is ok, with each master's replica synced."""
        def ready() -> bool:
            live = self.live_nodes()
            if not all(n.cluster_state() == "ok" for n in live):
                return False
            roles = [n.info("replication") for n in live]
            replicas = [r for r in roles if r.get("role") == "slave"]
            masters = [r for r in roles if r.get("role") == "master"]
            return (len(masters) == self.masters and len(replicas) == len(live) - self.masters
                    and all(r.get("master_link_status") == "up" and r.get("master_sync_in_progress") == 0
                            for r in replicas))
        _until(ready, timeout, "the Redis cluster did not become ready (state ok, replicas synced)")

    def client(self) -> SyncRedisCluster:
        node = self.live_nodes()[0]
        return SyncRedisCluster(host="127.0.0.1", port=node.port, decode_responses=True)

    def slot_of(self, key: str) -> int:
        reply = self.live_nodes()[0].cli("CLUSTER", "KEYSLOT", key)
        assert isinstance(reply, int), reply
        return reply

    def master_of(self, key: str) -> Node:
        """The node that serves ``key``'s slot now, as the cluster says."""
        slot = self.slot_of(key)
        for entry in self._slots():
            if entry[0] <= slot <= entry[1]:
                port = int(entry[2][1])
                return next(n for n in self.nodes if n.port == port)
        raise AssertionError(f"no node serves slot {slot}")

    def replica_of(self, master: Node) -> Node:
        for node in self.live_nodes():
            rep = node.info("replication")
            if rep.get("role") == "slave" and int(rep.get("master_port", 0)) == master.port:
                return node
        raise AssertionError(f"no replica of {master.address}")

    def _slots(self) -> list:
        reply = self.live_nodes()[0].cli("CLUSTER", "SLOTS")
        assert isinstance(reply, list), reply
        return reply

    def kill9(self, node: Node) -> None:
        """SIGKILL: the node vanishes without a word to the others."""
        assert node.proc is not None
        node.proc.kill()
        node.proc.wait(10)

    def restart(self, node: Node) -> None:
        """Start a killed node again on its port and directory: it rejoins (as a replica)."""
        assert node.proc is not None and node.proc.poll() is not None
        node.proc = subprocess.Popen(node.proc.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _until(lambda: node.cli("PING") is True, 10, f"redis-server on {node.port} did not come back")

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                node.proc.wait(10)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(5)


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _until(check, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(message)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


def cluster_settings(cluster: Cluster, tmp_path: Path, **overrides: object) -> Settings:
    """The test settings of ``conftest.settings`` on the cluster, every acknowledged write waiting for
    its replica (the recipe's ``METER_REDIS_WAIT_REPLICAS=1``). The wait is 2 s, not the default
    0.1 s: on a loaded test machine a replica can take longer, and these tests are about what the
    service answers when the replica keeps up (the replication and failover tests set 0.1 s)."""
    base: dict[str, object] = {"redis_url": cluster.url, "redis_cluster": True, "redis_wait_replicas": 1,
                               "redis_wait_ms": 2000,
                               "data_dir": tmp_path, "writer_block_ms": 20, "writer_pace_ms": 10, "scheduler": False}
    return Settings(**{**base, **overrides})  # type: ignore[arg-type]


@pytest.fixture
async def cluster_redis(redis_cluster: Cluster, pool_id: str) -> AsyncIterator[redis.Redis]:
    """A cluster client for the test's pool; the pool's keys are deleted afterwards."""
    from tests.conftest import delete_pool_keys

    client = connect(redis_cluster.url, cluster=True)
    yield client
    await delete_pool_keys(client, pool_id)
    await client.aclose()


@pytest.fixture
def settings(redis_cluster: Cluster, tmp_path: Path) -> Settings:
    """``conftest.settings`` on the cluster (``cluster_settings``), for a test module that imports it:
    a module's own fixture stands in for conftest's in that module only."""
    return cluster_settings(redis_cluster, tmp_path)


@pytest.fixture
def redis_client(cluster_redis: redis.Redis) -> redis.Redis:
    """``conftest.redis_client`` on the cluster, for a test module that imports it (with ``settings``,
    or a ``settings`` of its own): the app and the test then share the cluster client."""
    return cluster_redis


def module_tests(module: ModuleType, but: frozenset[str] | set[str] = frozenset()) -> dict[str, object]:
    """A test module's module-level tests (not its classes), to run again in a module whose
    ``settings`` and ``redis_client`` fixtures put the app on the cluster."""
    return {name: value for name, value in vars(module).items()
            if name.startswith("test_") and callable(value) and name not in but}
