"""The seed stack's test servers, built from the package registries and run on loopback.

- MongoDB wire protocol: FerretDB v1.24.2 on its PostgreSQL backend (a PostgreSQL of its own, from the embedded
  engine's binaries), built from its Go module (fetched through the Go module proxy). The module as published lacks
  the generated ``build/version/version.txt`` that the binary insists on, so the build copies the module source,
  writes that one file, and runs ``go build``.
- Neo4j 5.26 community: the ``org.neo4j:neo4j`` artifact and its dependencies from Maven Central, started by a
  launcher of a few lines (tests/seed_stack/neo4j/) with Bolt on loopback and authentication off.
- InfluxDB 1.6 from Debian's ``influxdb`` package, run with its own config and data folder, never as the system
  service.
- Apache Cassandra 5.0 for the sessions role: ``cassandra-all`` and its dependencies from Maven Central, one node
  with a config written for it (engines/cassandra.py, which also runs the three-node cluster of the tests).

Builds are cached under ``$POLYSOCIAL_CACHE_DIR`` (default ``~/.cache/polysocial``): a second build takes a second.
Nothing is downloaded from anywhere but the package registries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from polysocial.domain.errors import EngineError
from polysocial.engines.embedded import EmbeddedPostgres
from polysocial.engines.layout import EngineLayout
from polysocial.engines.process import wait_until
from polysocial.logging import get_logger

log = get_logger(__name__)

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
NEO4J_VERSION = "5.26.26"
INFLUX_PACKAGE = "influxdb"
NEO4J_HEAP = "768m"
START_TIMEOUT_S = 120.0

REPO_ROOT = Path(__file__).resolve().parents[3]
NEO4J_LAUNCHER_DIR = REPO_ROOT / "tests" / "seed_stack" / "neo4j"


def cache_dir() -> Path:
    explicit = os.environ.get("POLYSOCIAL_CACHE_DIR")
    base = Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "polysocial"
    return base / "seed-stack"


def _run(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    result = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip())[-2000:]
        raise EngineError(f"`{' '.join(cmd)}` failed (exit {result.returncode}):\n{output}")
    return result.stdout


# -- what each server needs, and why it may be missing ------------------------------------------------------------


def missing_tools() -> dict[str, str]:
    """Servers that cannot be built or run on this machine, each with the reason."""
    missing: dict[str, str] = {}
    if not shutil.which("go") and not ferretdb_binary().exists():
        missing["ferretdb"] = "Go is not installed (FerretDB is built with `go build`)"
    if not shutil.which("java"):
        missing["neo4j"] = "Java 17+ is not installed (Neo4j runs on the JVM)"
    elif not shutil.which("mvn") and not (neo4j_build_dir() / "lib").exists():
        missing["neo4j"] = "Maven is not installed (it fetches Neo4j from Maven Central)"
    if not shutil.which("java"):
        missing["cassandra"] = "Java 17+ is not installed (Cassandra runs on the JVM)"
    elif not shutil.which("mvn") and not (cache_dir() / "cassandra-5.0.6" / "lib").exists():
        missing["cassandra"] = "Maven is not installed (it fetches Cassandra from Maven Central)"
    if not influxd_binary() and not (os.geteuid() == 0 and shutil.which("apt-get")):
        missing["influxdb"] = "influxd is not installed and this user cannot apt-get install influxdb"
    return missing


def ferretdb_binary() -> Path:
    return cache_dir() / "bin" / f"ferretdb-{FERRETDB_VERSION}"


def neo4j_build_dir() -> Path:
    return cache_dir() / f"neo4j-{NEO4J_VERSION}"


def influxd_binary() -> str | None:
    return shutil.which("influxd")


# -- builds (cached) -----------------------------------------------------------------------------------------------


def build_ferretdb() -> Path:
    target = ferretdb_binary()
    if target.exists():
        return target
    go_env = {"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    info = json.loads(_run(["go", "mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"], env=go_env))
    source = cache_dir() / "src" / f"ferretdb-{FERRETDB_VERSION}"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(info["Dir"], source)
    for path in [source, *source.rglob("*")]:  # the module cache is read-only; the copy must be writable
        path.chmod(path.stat().st_mode | 0o200)
    (source / "build" / "version" / "version.txt").write_text(f"{FERRETDB_VERSION}\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    _run(["go", "build", "-o", str(partial), "./cmd/ferretdb"], cwd=source, env={"GOTOOLCHAIN": "local"})
    partial.replace(target)
    shutil.rmtree(source, ignore_errors=True)
    return target


def maven_classpath(pom: Path, lib: Path, properties: dict[str, str]) -> None:
    """The runtime dependencies of ``pom`` fetched from Maven Central (or Maven's local cache) into ``lib``."""
    _run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom),
            *(f"-D{key}={value}" for key, value in properties.items()),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={lib}",
            "-DincludeScope=runtime",
        ]
    )


def cached_build(
    build: Path, version: str, sources: Path, files: Sequence[str], make: Callable[[Path], object]
) -> Path:
    """``build`` as ``make(build)`` leaves it, made again only when the version or one of the ``files`` (under
    ``sources``, the checkout's build files) changed since: a fingerprint of them is kept beside the result."""
    if not sources.exists():
        raise EngineError(f"the build files are missing: {sources} (run from a source checkout)")
    digest = hashlib.sha256(version.encode())
    for name in files:
        digest.update((sources / name).read_bytes())
    fingerprint = digest.hexdigest()[:16]
    stamp = build / "fingerprint"
    if stamp.exists() and stamp.read_text() == fingerprint:
        return build
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    make(build)
    stamp.write_text(fingerprint)
    return build


def build_neo4j() -> Path:
    def make(build: Path) -> None:
        maven_classpath(NEO4J_LAUNCHER_DIR / "pom.xml", build / "lib", {"neo4j.version": NEO4J_VERSION})
        (build / "classes").mkdir()
        launcher = NEO4J_LAUNCHER_DIR / "Neo4jLauncher.java"
        _run(["javac", "-d", str(build / "classes"), "-cp", str(build / "lib" / "*"), str(launcher)])

    return cached_build(neo4j_build_dir(), NEO4J_VERSION, NEO4J_LAUNCHER_DIR, ("pom.xml", "Neo4jLauncher.java"), make)


def install_influxdb() -> str:
    found = influxd_binary()
    if found:
        return found
    if os.geteuid() != 0:
        raise EngineError("influxd is missing: install Debian's influxdb package (sudo apt-get install influxdb)")
    # The package's maintainer scripts would start the system service; a policy-rc.d that answers 101 ("action
    # forbidden") stops that for the length of the install. Our own instance runs with its own config.
    policy = Path("/usr/sbin/policy-rc.d")
    added_policy = not policy.exists()
    if added_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        try:
            _run(["apt-get", "install", "-y", "--no-install-recommends", INFLUX_PACKAGE], env=env)
        except EngineError:
            _run(["apt-get", "update"], env=env)
            _run(["apt-get", "install", "-y", "--no-install-recommends", INFLUX_PACKAGE], env=env)
    finally:
        if added_policy:
            policy.unlink(missing_ok=True)
    found = influxd_binary()
    if not found:
        raise EngineError("apt-get installed influxdb but influxd is not on PATH")
    return found


def build_cassandra() -> Path:
    from polysocial.engines.cassandra import build_cassandra as build

    return build()


def build_all() -> dict[str, float]:
    """Build (or find cached) every server; returns the seconds each took."""
    timings: dict[str, float] = {}
    builds = (
        ("ferretdb", build_ferretdb),
        ("neo4j", build_neo4j),
        ("influxdb", install_influxdb),
        ("cassandra", build_cassandra),
    )
    for name, build in builds:
        started = time.perf_counter()
        build()
        timings[name] = time.perf_counter() - started
    return timings


# -- running -------------------------------------------------------------------------------------------------------


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    # What the server stands on and stops after it (FerretDB's PostgreSQL).
    after_stop: list[Callable[[], object]] = field(default_factory=list)
    # InfluxDB's RPC address (host:port), which its backup and restore commands use.
    admin_address: str = ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for step in self.after_stop:
            step()
        self.after_stop.clear()

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _spawn(name: str, cmd: list[str], workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir)
    return process, log_path


def _await_ready(server: Server, *, port: int) -> Server:
    def up() -> bool:
        if server.process.poll() is not None:
            raise EngineError(f"{server.name} exited with code {server.process.returncode}:\n{server.log_tail()}")
        return _port_open(port)

    if not wait_until(up, timeout_s=START_TIMEOUT_S, interval_s=0.1):
        server.stop()
        raise EngineError(f"{server.name} did not listen on port {port} within {START_TIMEOUT_S:.0f} s")
    return server


# FerretDB 1.24 pushes an equality filter down as ``_jsonb->$1 @> $2`` (internal/backends/postgresql/query.go), but
# the indexes it builds, for ``_id`` and for ``createIndexes``, are B-trees on ``(_jsonb->'field')``, which ``@>``
# cannot use: every lookup by ``_id`` was a sequential scan (16 ms at 50,000 documents, growing with the
# collection; the seed variant's feed and mixed workloads timed out on it). A GIN index on the same expression
# answers ``@>`` (0.01 ms there; PostgreSQL's custom plans inline the key, so the prepared statement uses it). This
# event trigger gives each index FerretDB builds a GIN twin on its leading field; the script's last statement does
# the same for indexes built before it was installed. The twins keep no pending list (fastupdate off): FerretDB
# rewrites a whole row at every update, each adding entries to every twin, and a query reads the unsorted pending
# list through; after 20,000 updates of 50,000 rows a lookup took 1.07 ms with it and 0.24 ms without (and an
# update 0.90 ms against 0.32). MongoDB answers these filters from its own B-tree indexes, so the twins
# bring FerretDB nearer to what MongoDB would do, not beyond it. A twin outlives a dropped index (dropIndexes), not
# a dropped collection.
GIN_TWINS_SQL = r"""
CREATE OR REPLACE FUNCTION polysocial_gin_twin(btree oid) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    field text := substring(pg_get_indexdef(btree) FROM $re$USING btree \(\(\(_jsonb -> '([^']+)'::text\)\)$re$);
    target regclass := (SELECT indrelid::regclass FROM pg_index WHERE indexrelid = btree);
    twin text := 'gin_' || md5(target::text || '/' || field);
BEGIN
    IF field IS NOT NULL THEN  -- one twin per table and field, however many B-trees lead with it
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((_jsonb -> %L) jsonb_path_ops) WITH (fastupdate = off)',
            twin, target, field);
    END IF;
END $fn$;

CREATE OR REPLACE FUNCTION polysocial_gin_twin_trigger() RETURNS event_trigger LANGUAGE plpgsql AS $fn$
DECLARE
    cmd record;
BEGIN
    FOR cmd IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE INDEX' LOOP
        PERFORM polysocial_gin_twin(cmd.objid);
    END LOOP;
END $fn$;

DROP EVENT TRIGGER IF EXISTS polysocial_gin_twin;
CREATE EVENT TRIGGER polysocial_gin_twin ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
    EXECUTE FUNCTION polysocial_gin_twin_trigger();

SELECT polysocial_gin_twin(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
WHERE a.amname = 'btree' AND i.indrelid::regclass::text NOT LIKE 'pg\_%';
"""


def install_gin_twins(backing_url: str) -> None:
    """Install (or refresh) the GIN twins' event trigger in FerretDB's PostgreSQL, and twin the existing indexes."""
    with psycopg.connect(backing_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(GIN_TWINS_SQL)


def ferretdb_backing(workdir: Path) -> EmbeddedPostgres:
    """The PostgreSQL that FerretDB stores its documents in, under the seed stack's working folder."""
    return EmbeddedPostgres(EngineLayout(workdir / "ferretdb-postgres"))


def start_ferretdb(workdir: Path) -> Server:
    """FerretDB on its PostgreSQL backend, over a PostgreSQL of its own (the embedded engine's binaries, in this
    working folder). Its SQLite backend pushed only ``{_id: x}`` down and decoded the whole collection for any other
    filter or sort; on PostgreSQL, equality filters on scalar fields, one-field sorts and limits run in PostgreSQL,
    and ``createIndexes`` builds real indexes, each with a GIN twin that its equality filters can use
    (GIN_TWINS_SQL). ``$in`` is still evaluated in FerretDB (stores/documents/mongo.py works around it)."""
    binary = build_ferretdb()
    backing = ferretdb_backing(workdir)
    backing.up()
    try:
        install_gin_twins(backing.url)
    except BaseException:
        backing.down()
        raise
    port = free_port()
    try:
        process, log_path = _spawn(
            "ferretdb",
            [
                str(binary),
                "--handler=postgresql",
                f"--postgresql-url={ferretdb_postgres_url(backing.url)}",
                f"--listen-addr=127.0.0.1:{port}",
                "--telemetry=disable",
                "--debug-addr=-",
                "--log-level=warn",
            ],
            workdir,
        )
    except BaseException:
        backing.down()
        raise
    server = Server("ferretdb", f"mongodb://127.0.0.1:{port}/polysocial", process, log_path, [backing.down])
    return _await_ready(server, port=port)


def ferretdb_postgres_url(url: str) -> str:
    """FerretDB (Go's pgx) reads ``postgres://`` URLs; the embedded engine names a Unix socket folder in ``host``."""
    return "postgres://" + url.removeprefix("postgresql://")


def start_neo4j(workdir: Path) -> Server:
    build = build_neo4j()
    java = shutil.which("java") or "java"
    port = free_port()
    home = workdir / "neo4j"
    home.mkdir(parents=True, exist_ok=True)
    classpath = f"{build / 'classes'}{os.pathsep}{build / 'lib' / '*'}"
    process, log_path = _spawn(
        "neo4j",
        [java, f"-Xmx{NEO4J_HEAP}", "-XX:+UseSerialGC", "-cp", classpath, "Neo4jLauncher", str(home), str(port)],
        workdir,
    )
    server = Server("neo4j", f"neo4j://127.0.0.1:{port}", process, log_path)  # routing, as for a cluster
    return _await_ready(server, port=port)


def _influx_config(workdir: Path, http_port: int, rpc_port: int) -> Path:
    root = workdir / "influxdb"
    for sub in ("meta", "data", "wal"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "influxdb.conf"
    conf.write_text(
        f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root / "meta"}"

[data]
  dir = "{root / "data"}"
  wal-dir = "{root / "wal"}"
  query-log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false

[monitor]
  store-enabled = false

[continuous_queries]
  log-enabled = false
"""
    )
    return conf


def start_influxdb(workdir: Path) -> Server:
    influxd = install_influxdb()
    http_port, rpc_port = free_port(), free_port()
    conf = _influx_config(workdir, http_port, rpc_port)
    process, log_path = _spawn("influxdb", [influxd, "-config", str(conf)], workdir)
    server = Server(
        "influxdb",
        f"http://127.0.0.1:{http_port}/polysocial",
        process,
        log_path,
        admin_address=f"127.0.0.1:{rpc_port}",
    )
    _await_ready(server, port=http_port)

    def pings() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"http://127.0.0.1:{http_port}/ping", timeout=1).status_code == 204
        return False

    if not wait_until(pings, timeout_s=30, interval_s=0.1):
        server.stop()
        raise EngineError(f"influxd listens but /ping does not answer:\n{server.log_tail()}")
    return server


def start_cassandra(workdir: Path) -> Server:
    """One Cassandra node on 127.0.0.1 and free ports: the sessions role (keyspace ``polysocial``, created by the
    adapter with replication factor 1 on one node)."""
    from polysocial.engines.cassandra import CassandraCluster

    cluster = CassandraCluster(workdir / "cassandra", 1).start()
    node = cluster.nodes[0]
    assert node.process is not None
    return Server("cassandra", cluster.url, node.process, node.log_path)


STARTERS = {
    "ferretdb": start_ferretdb,
    "neo4j": start_neo4j,
    "influxdb": start_influxdb,
    "cassandra": start_cassandra,
}


@dataclass
class SeedStack:
    """The four test servers, started together (Neo4j takes the longest) under one working folder."""

    workdir: Path
    servers: dict[str, Server] = field(default_factory=dict)

    @property
    def urls(self) -> dict[str, str]:
        return {name: server.url for name, server in self.servers.items()}

    def env(self, *, relational_url: str, keyvalue_url: str) -> dict[str, str]:
        """The settings (environment variables) of the `seed` profile on these servers, with PostgreSQL and Redis
        at the given URLs."""
        return {
            "POLYSOCIAL_PROFILE": "seed",
            "POLYSOCIAL_RELATIONAL_URL": relational_url,
            "POLYSOCIAL_DOCUMENTS_URL": self.urls["ferretdb"],
            "POLYSOCIAL_GRAPH_URL": self.urls["neo4j"],
            "POLYSOCIAL_KEYVALUE_URL": keyvalue_url,
            "POLYSOCIAL_TIMESERIES_URL": self.urls["influxdb"],
            "POLYSOCIAL_TIMESERIES_BACKUP_ADDRESS": self.servers["influxdb"].admin_address,
            "POLYSOCIAL_SESSIONS_URL": self.urls["cassandra"],
        }

    def start(self, on_ready: Callable[[Server, float], object] | None = None) -> SeedStack:
        """Start the four at once; ``on_ready(server, seconds)`` as each answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        errors: list[BaseException] = []
        lock = threading.Lock()
        began = time.perf_counter()

        def start_one(name: str) -> None:
            try:
                server = STARTERS[name](self.workdir)
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                return
            with lock:
                self.servers[name] = server
                if on_ready is not None:
                    on_ready(server, time.perf_counter() - began)

        threads = [threading.Thread(target=start_one, args=(name,)) for name in STARTERS]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.stop()
            raise errors[0]
        return self

    def stop(self) -> None:
        for server in self.servers.values():  # all told at once: the JVMs take seconds each to shut down
            if server.process.poll() is None:
                server.process.terminate()
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


@contextlib.contextmanager
def running_seed_stack(
    workdir: Path | None = None, on_ready: Callable[[Server, float], object] | None = None
) -> Iterator[SeedStack]:
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="polysocial-seed-")))
        seed = SeedStack(workdir).start(on_ready)
        stack.callback(seed.stop)
        yield seed
