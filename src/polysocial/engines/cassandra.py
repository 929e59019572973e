"""Apache Cassandra 5.0 from Maven Central, run on loopback: the session store of the seed stack (one node) and the
three-node cluster its tests kill nodes in.

The ``cassandra-all`` artifact and its dependencies are fetched by Maven (tests/seed_stack/cassandra/pom.xml) into
``$POLYSOCIAL_CACHE_DIR/seed-stack/cassandra-<version>/lib``. The jar has no configuration: each node gets a
``cassandra.yaml`` written here (the minimum Cassandra reads, plus small caches) and the JVM flags of Cassandra's own
``conf/jvm17-server.options``. A lone seed starts in 5-9 s with the ring delay cut to a second (a 30 s wait otherwise);
three nodes on 127.0.0.1, .2 and .3 (loopback aliases need no setup on Linux) start together in about 25 s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polysocial.domain.errors import EngineError
from polysocial.engines.process import wait_until
from polysocial.engines.seed_stack import cache_dir, cached_build, free_port, maven_classpath
from polysocial.logging import get_logger

log = get_logger(__name__)

CASSANDRA_VERSION = "5.0.6"
REPO_ROOT = Path(__file__).resolve().parents[3]
CASSANDRA_BUILD_SOURCES = REPO_ROOT / "tests" / "seed_stack" / "cassandra"
START_TIMEOUT_S = 120.0
GOSSIP_FAILURE = "Unable to gossip with any peers"  # a node that found no seed to ask, at start
GOSSIP_ATTEMPTS = 3
HEAP = "256m"

# Cassandra's conf/jvm17-server.options (JPMS exports and opens, Netty's allocator), without its GC tuning for
# large heaps: G1 with the JVM's defaults on a 256 MB heap.
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-exports=java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
)


def build_dir() -> Path:
    return cache_dir() / f"cassandra-{CASSANDRA_VERSION}"


def build_cassandra() -> Path:
    """The classpath folder (``lib``), fetched by Maven once and cached."""

    def make(build: Path) -> None:
        pom = CASSANDRA_BUILD_SOURCES / "pom.xml"
        maven_classpath(pom, build / "lib", {"cassandra.version": CASSANDRA_VERSION})

    return cached_build(build_dir(), CASSANDRA_VERSION, CASSANDRA_BUILD_SOURCES, ("pom.xml",), make)


def _port_open(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((address, port)) == 0


def _yaml(node_dir: Path, *, cluster: str, address: str, native_port: int, storage_port: int, seeds: str) -> str:
    return f"""cluster_name: {cluster}
num_tokens: 16
allocate_tokens_for_local_replication_factor: 3
# An empty cluster whose nodes start together: no node streams data from another at its first start.
auto_bootstrap: false
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{seeds}"
listen_address: {address}
rpc_address: {address}
storage_port: {storage_port}
native_transport_port: {native_port}
start_native_transport: true
data_file_directories:
  - {node_dir / "data"}
commitlog_directory: {node_dir / "commitlog"}
saved_caches_directory: {node_dir / "saved_caches"}
hints_directory: {node_dir / "hints"}
cdc_raw_directory: {node_dir / "cdc_raw"}
commitlog_sync: periodic
commitlog_sync_period: 10000ms
hinted_handoff_enabled: true
# Hints for a node that is down go to a file within a second (default 10 s): a node's pending hints can be seen.
hints_flush_period: 1000ms
# A test server: TRUNCATE (the sessions role's wipe, before every test) without a snapshot of what it deletes.
auto_snapshot: false
file_cache_size: 16MiB
key_cache_size: 4MiB
"""


@dataclass
class CassandraNode:
    """One Cassandra process, on ``address`` with its native (CQL) port, in a folder of its own."""

    name: str
    address: str
    native_port: int
    storage_port: int
    home: Path
    cluster: str
    seeds: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def contact_point(self) -> str:
        return f"{self.address}:{self.native_port}"

    @property
    def log_path(self) -> Path:
        return self.home / "logs" / "system.log"

    def start(self) -> CassandraNode:
        lib = build_cassandra() / "lib"
        java = shutil.which("java") or "java"
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        conf = self.home / "cassandra.yaml"
        conf.write_text(
            _yaml(
                self.home,
                cluster=self.cluster,
                address=self.address,
                native_port=self.native_port,
                storage_port=self.storage_port,
                seeds=self.seeds,
            )
        )
        cmd = [
            java,
            f"-Xms{HEAP}",
            f"-Xmx{HEAP}",
            *JVM_FLAGS,
            f"-Dcassandra.config=file://{conf}",
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.storagedir={self.home}",
            f"-Dcassandra.logdir={self.home / 'logs'}",
            f"-Dlogback.configurationFile={CASSANDRA_BUILD_SOURCES / 'logback.xml'}",
            # No JMX (nothing here uses nodetool): its port, picked at each start, could be taken by another
            # process before the JVM bound it, and a restarted node then failed to start.
            # A lone seed or an empty cluster has nothing to wait for: without these, 30 s of ring delay.
            "-Dcassandra.ring_delay_ms=1000",
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-cp",
            f"{lib}/*",
            "org.apache.cassandra.service.CassandraDaemon",
        ]
        with (self.home / "stdout.log").open("ab") as out:
            self.process = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.home
            )
        return self

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> CassandraNode:
        process = self.process
        if process is None:
            raise EngineError(f"{self.name} was not started")

        def up() -> bool:
            if process.poll() is not None:
                raise EngineError(f"{self.name} exited with code {process.returncode}:\n{self.log_tail()}")
            return _port_open(self.address, self.native_port)

        if not wait_until(up, timeout_s=timeout_s, interval_s=0.1):
            self.stop()
            raise EngineError(f"{self.name} did not listen on {self.contact_point} within {timeout_s:.0f} s")
        return self

    def kill(self) -> None:
        """SIGKILL: the crash the three-node tests inflict."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        for path in (self.log_path, self.home / "stdout.log"):
            with contextlib.suppress(OSError):
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class CassandraCluster:
    """Nodes on 127.0.0.1, .2, .3 ..., the same ports on each address, the first one the seed."""

    workdir: Path
    size: int = 1
    nodes: list[CassandraNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The ``cassandra://`` URL of the session store on these nodes (keyspace ``polysocial``)."""
        hosts = ",".join(node.address for node in self.nodes)
        return f"cassandra://{hosts}:{self.nodes[0].native_port}/polysocial"

    def start(self) -> CassandraCluster:
        addresses = [f"127.0.0.{i + 1}" for i in range(self.size)]
        native_port, storage_port = _ports_free_on_all(addresses)
        cluster = f"polysocial-{os.getpid()}-{native_port}"
        seeds = f"{addresses[0]}:{storage_port}"
        self.nodes = [
            CassandraNode(
                f"cassandra-{i + 1}",
                address,
                native_port,
                storage_port,
                self.workdir / f"node{i + 1}",
                cluster,
                seeds,
            )
            for i, address in enumerate(addresses)
        ]
        try:
            for node in self.nodes:
                node.start()
            errors: list[BaseException] = []

            seed_ready = threading.Event()

            threads = [threading.Thread(target=self._wait_node, args=(node, errors, seed_ready)) for node in self.nodes]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
            if self.size > 1:
                self._await_ring()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_node(self, node: CassandraNode, errors: list[BaseException], seed_ready: threading.Event) -> None:
        """Wait until ``node`` serves; failures go to ``errors``. All nodes start at once, and a node that asks the
        seed before the seed listens gives up after the (short) ring delay: once the seed is up, it is started
        again."""
        for attempt in range(1, GOSSIP_ATTEMPTS + 1):
            try:
                node.wait_ready()
            except EngineError as exc:
                if node is self.nodes[0] or GOSSIP_FAILURE not in str(exc) or attempt == GOSSIP_ATTEMPTS:
                    errors.append(exc)
                    seed_ready.set()  # nobody waits on a seed that failed
                    return
                log.warning("cassandra node found no peer to gossip with; starting it again", node=node.name)
                seed_ready.wait(START_TIMEOUT_S)
                node.start()
            except BaseException as exc:
                errors.append(exc)
                seed_ready.set()
                return
            else:
                if node is self.nodes[0]:
                    seed_ready.set()
                return

    def _await_ring(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until every node knows every other (its ``system.peers``): a node whose native port is open may not
        have met the others yet, and a keyspace created on it then would not reach them for a while."""
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import WhiteListRoundRobinPolicy

        for node in self.nodes:
            profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([node.address]))
            cluster = Cluster(
                [node.address],
                port=self.nodes[0].native_port,
                execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                protocol_version=5,
            )
            try:
                session = cluster.connect()

                def met(session: Any = session) -> bool:
                    return len(list(session.execute("SELECT peer FROM system.peers"))) >= self.size - 1

                if not wait_until(met, timeout_s=timeout_s, interval_s=0.25):
                    raise EngineError(f"{node.name} did not meet the other {self.size - 1} nodes in {timeout_s:.0f} s")
            finally:
                cluster.shutdown()

    def stop(self) -> None:
        for node in self.nodes:  # all told at once: each takes seconds to shut down
            if node.running and node.process is not None:
                node.process.terminate()
        for node in self.nodes:
            node.stop()


def _ports_free_on_all(addresses: list[str]) -> tuple[int, int]:
    """Two ports (native, storage) free on every address: the nodes of one cluster share them."""
    for _ in range(50):
        native, storage = free_port(addresses[0]), free_port(addresses[0])
        if native == storage:
            continue
        try:
            for address in addresses[1:]:
                for port in (native, storage):
                    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                        s.bind((address, port))
        except OSError:
            continue
        return native, storage
    raise EngineError("found no pair of ports free on " + ", ".join(addresses))


@contextlib.contextmanager
def running_cassandra(size: int = 1, workdir: Path | None = None) -> Iterator[CassandraCluster]:
    """Start ``size`` nodes and stop every one of them (by its process) on the way out, whatever happened."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="polysocial-cassandra-")))
        cluster = CassandraCluster(workdir, size)
        stack.callback(cluster.stop)
        yield cluster.start()
