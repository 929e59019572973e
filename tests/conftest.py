"""Session fixtures: the embedded engines and the seed stack's test servers, started once per test session on free
ports (unix sockets for the embedded pair) under pytest's temporary folder, and stopped at the end."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from polysocial.bootstrap import App
from polysocial.config import Settings
from polysocial.engines import seed_stack
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.engines.redis_cluster import RedisClusterNodes
from tests.support.apps import fresh_app
from tests.support.live import live_server

# Tests never follow the developer's own POLYSOCIAL_* settings (a seed URL, another data folder).
for _key in [k for k in os.environ if k.startswith("POLYSOCIAL_")]:
    if _key not in {
        "POLYSOCIAL_REQUIRE_SEED_STACK",
        "POLYSOCIAL_REQUIRE_LOAD_GENERATORS",
        "POLYSOCIAL_REQUIRE_BROWSER",
        "POLYSOCIAL_CHROMIUM",
        "POLYSOCIAL_SCREENSHOTS",
        "POLYSOCIAL_CACHE_DIR",
    }:
        del os.environ[_key]


def seed_stack_required() -> bool:
    return os.environ.get("POLYSOCIAL_REQUIRE_SEED_STACK") == "1"


@pytest.fixture(scope="session")
def engines_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="session")
def embedded_engines(engines_dir: Path) -> Iterator[EmbeddedEngines]:
    """PostgreSQL and Redis+FalkorDB from the wheels, once per session."""
    engines = EmbeddedEngines(Settings(data_dir=engines_dir))
    engines.up(only_needed=False)
    yield engines
    engines.down()


@pytest.fixture(scope="session")
def embedded_settings(embedded_engines: EmbeddedEngines, engines_dir: Path) -> Settings:
    return Settings(data_dir=engines_dir)


@pytest.fixture(scope="session")
def seed_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[seed_stack.SeedStack]:
    """FerretDB, Neo4j, InfluxDB and Cassandra. Skipped with the reason when this machine cannot build them, unless
    POLYSOCIAL_REQUIRE_SEED_STACK=1 (CI), where a missing server is a failure."""
    missing = seed_stack.missing_tools()
    if missing:
        reason = "seed stack unavailable: " + "; ".join(f"{k}: {v}" for k, v in missing.items())
        if seed_stack_required():
            pytest.fail(reason + " (POLYSOCIAL_REQUIRE_SEED_STACK=1)")
        pytest.skip(reason)
    stack = seed_stack.SeedStack(tmp_path_factory.mktemp("seed-stack")).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def seed_settings(seed_servers: seed_stack.SeedStack, embedded_engines: EmbeddedEngines) -> Settings:
    """The `seed` profile against the test servers; PostgreSQL and Redis are the session's real engines."""
    return Settings(
        profile="seed",
        relational_url=embedded_engines.postgres.url,
        documents_url=seed_servers.urls["ferretdb"],
        graph_url=seed_servers.urls["neo4j"],
        keyvalue_url=embedded_engines.redis.url,
        timeseries_url=seed_servers.urls["influxdb"],
        timeseries_backup_address=seed_servers.servers["influxdb"].admin_address,
        sessions_url=seed_servers.urls["cassandra"],
    )


def isolated_settings(engines: EmbeddedEngines, name: str) -> Settings:
    """The embedded engines, but a database and a graph of their own: for a server or worker whose relay must not
    deliver (or steal) the events of the tests that share the session's engines."""
    database = f"polysocial_{name}"
    with psycopg.connect(engines.layout.postgres_url("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
    postgres = engines.layout.postgres_url(database)
    return Settings(
        relational_url=postgres,
        documents_url=postgres,
        timeseries_url=postgres,
        graph_url=engines.layout.redis_url(graph=name),
        keyvalue_url=engines.layout.redis_url(),
    )


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    """A Redis Cluster of 3 masters and 3 replicas on loopback (engines/redis_cluster.py), once per test session."""
    nodes = RedisClusterNodes(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield nodes.up()
    finally:
        nodes.down()


@pytest.fixture(scope="session")
def live_settings(embedded_engines: EmbeddedEngines) -> Settings:
    return isolated_settings(embedded_engines, "live")


@pytest.fixture(scope="session")
def embedded_server(live_settings: Settings) -> Iterator[str]:
    """`polysocial serve` on the embedded engines (relay included), over real HTTP, on its own database."""
    with live_server(live_settings) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def postgres_only_settings(embedded_engines: EmbeddedEngines, engines_dir: Path) -> Settings:
    return Settings(profile="postgres-only", data_dir=engines_dir)


PROFILES = ["embedded", "postgres-only", pytest.param("seed", marks=pytest.mark.seed_stack)]


@pytest.fixture(params=PROFILES)
def profile_settings(request: pytest.FixtureRequest) -> Settings:
    """The same test on every profile (a test asks for this fixture); the seed profile needs the seed stack."""
    fixture = {"embedded": "embedded_settings", "postgres-only": "postgres_only_settings", "seed": "seed_settings"}
    settings: Settings = request.getfixturevalue(fixture[request.param])
    return settings


@pytest.fixture
def app_settings(embedded_settings: Settings) -> Settings:
    """The settings of the ``app`` fixture: the embedded engines. A module or folder overrides this fixture (the
    API tests with every profile, a test with a setting of its own), never ``app`` itself."""
    return embedded_settings


@pytest.fixture
async def app(app_settings: Settings) -> AsyncIterator[App]:
    """The one app fixture: an App on empty stores, closed after the test. The relay is driven by the test
    (``await app.relay.drain()``) unless the test starts it."""
    async with fresh_app(app_settings) as state:
        yield state
