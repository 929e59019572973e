"""CORS: off by default; with POLYSOCIAL_CORS_ORIGINS, those origins (only) may call the API from their pages."""

from __future__ import annotations

import httpx
import pytest

from polysocial.api.app import create_app
from polysocial.bootstrap import App
from polysocial.config import Settings

ALLOWED = "https://app.example"


@pytest.fixture
def app_settings(embedded_settings: Settings) -> Settings:
    return embedded_settings.model_copy(update={"cors_origins": f"{ALLOWED}, https://admin.example:8443"})


def client_of(app: App) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(app_state=app)), base_url="http://test")


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }


async def test_a_named_origin_gets_its_preflight_and_the_headers_it_may_read(app: App) -> None:
    async with client_of(app) as client:
        answer = await client.options("/users/me", headers=preflight(ALLOWED))
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == ALLOWED
        assert "authorization" in answer.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in answer.headers  # bearer tokens, never cookies
        health = await client.get("/health/live", headers={"Origin": ALLOWED})
        assert health.headers["access-control-allow-origin"] == ALLOWED
        assert "x-request-id" in health.headers["access-control-expose-headers"].lower()


async def test_another_origin_gets_no_permission(app: App) -> None:
    async with client_of(app) as client:
        answer = await client.options("/users/me", headers=preflight("https://evil.example"))
        assert answer.status_code == 400
        assert "access-control-allow-origin" not in answer.headers
        plain = await client.get("/health/live", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in plain.headers


async def test_off_by_default(embedded_settings: Settings) -> None:
    assert embedded_settings.cors_origin_list == []
    api = create_app(embedded_settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://test") as client:
        answer = await client.get("/health/live", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("value", ["app.example", "https://app.example/path", "ftp://x", "https://a b"])
def test_an_origin_that_is_not_one_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="cors_origins"):
        Settings(cors_origins=value)
