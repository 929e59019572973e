"""GET /health on every profile, with a role down, and the problem+json error shape."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from polysocial.api.app import create_app
from polysocial.bootstrap import bootstrap
from polysocial.config import Role, Settings, StoreURL
from polysocial.engines.embedded import EmbeddedRedis
from polysocial.engines.layout import EngineLayout
from polysocial.stores.breaker import StoreOptions
from polysocial.stores.keyvalue.redis import RedisKeyValueStore
from tests.support.apps import fresh_app

PROBLEM = "application/problem+json"


def in_process(app_state: object) -> httpx.AsyncClient:
    api = create_app(app_state=app_state)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://test")


def test_health_is_green_on_the_embedded_profile_over_http(embedded_server: str) -> None:
    response = httpx.get(f"{embedded_server}/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["profile"] == "embedded"
    engines = {r["role"]: r["engine"] for r in body["roles"]}
    assert engines == {
        "relational": "PostgreSQL",
        "documents": "PostgreSQL",
        "graph": "FalkorDB",
        "keyvalue": "Redis",
        "timeseries": "PostgreSQL",
        "sessions": "Redis",
    }
    assert all(r["ok"] and r["rtt_ms"] > 0 for r in body["roles"])
    assert "postgresql://" not in response.text
    assert "unix://" not in response.text


def test_live_and_ready_answer_for_load_balancers(embedded_server: str) -> None:
    live = httpx.get(f"{embedded_server}/health/live", timeout=10)
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = httpx.get(f"{embedded_server}/health/ready", timeout=10)
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "down": []})


@pytest.mark.seed_stack
async def test_health_is_green_on_the_seed_profile(seed_settings: Settings) -> None:
    app = await bootstrap(seed_settings)
    try:
        async with in_process(app) as client:
            response = await client.get("/health")
    finally:
        await app.aclose()
    assert response.status_code == 200, response.text
    engines = {r["role"]: r["engine"] for r in response.json()["roles"]}
    assert engines == {
        "relational": "PostgreSQL",
        "documents": "FerretDB",
        "graph": "Neo4j",
        "keyvalue": "Redis",
        "timeseries": "InfluxDB",
        "sessions": "Cassandra",
    }


async def test_health_is_green_on_the_postgres_only_profile(postgres_only_settings: Settings) -> None:
    app = await bootstrap(postgres_only_settings)
    try:
        async with in_process(app) as client:
            response = await client.get("/health")
    finally:
        await app.aclose()
    assert response.status_code == 200
    assert {r["engine"] for r in response.json()["roles"]} == {"PostgreSQL"}


async def test_health_is_503_and_names_the_role_when_its_engine_stops(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    doomed = EmbeddedRedis(EngineLayout(tmp_path))
    doomed.up()
    redis_store = RedisKeyValueStore(StoreURL(Role.KEYVALUE, doomed.url), StoreOptions(connect_s=1))
    app = await bootstrap(embedded_settings, keyvalue=redis_store)
    try:
        doomed.down()
        async with in_process(app) as client:
            response = await client.get("/health")
            ready = await client.get("/health/ready")
            live = await client.get("/health/live")
    finally:
        await app.aclose()
        doomed.down()
    assert (ready.status_code, ready.json()) == (503, {"status": "not ready", "down": ["keyvalue"]})
    assert ready.headers["Retry-After"] == "5"
    assert live.status_code == 200  # the process itself is fine: do not restart it, stop sending it traffic
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    by_role = {r["role"]: r for r in body["roles"]}
    assert by_role["keyvalue"]["ok"] is False
    assert by_role["keyvalue"]["error"] == "unreachable"
    assert all(by_role[r]["ok"] for r in ("relational", "documents", "graph", "timeseries"))


async def test_unknown_path_and_wrong_method_are_problem_json(embedded_settings: Settings) -> None:
    async with fresh_app(embedded_settings) as app, in_process(app) as client:
        missing = await client.get("/no/such/thing")
        wrong = await client.post("/health")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json() | {"type": ""} == {
        "type": "",
        "title": "Not found",
        "status": 404,
        "detail": "Not Found",
        "instance": "/no/such/thing",
    }
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == PROBLEM
    assert wrong.json()["status"] == 405


def test_openapi_and_docs_are_served(embedded_server: str) -> None:
    schema = httpx.get(f"{embedded_server}/openapi.json", timeout=10)
    assert schema.status_code == 200
    assert "/health" in schema.json()["paths"]
    docs = httpx.get(f"{embedded_server}/docs", timeout=10)
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text.lower()
