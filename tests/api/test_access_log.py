"""The request log: one line per request with its id, method, route template, status, duration and user id, in JSON
when the output is not a terminal; the id is the client's X-Request-ID when sane, else a new one, returned in the
response and carried by every line logged during the request. Never a token."""

from __future__ import annotations

import json
import secrets
from typing import Any, NoReturn

import httpx
import pytest

from polysocial.api.app import create_app
from polysocial.bootstrap import App
from polysocial.logging import configure_logging
from tests.support.accounts import registration


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_every_request_has_one_access_line_with_its_id_and_never_a_token(
    app: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLYSOCIAL_LOG_JSON", "1")
    configure_logging("warning")  # the request log is written whatever the level
    password = f"correct horse {secrets.token_hex(8)}"
    body = registration(password=password)
    transport = httpx.ASGITransport(app=create_app(app_state=app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/auth/register", json=body)).status_code == 201
        login = await client.post("/auth/login", json={"email": body["email"], "password": password})
        token = login.json()["access_token"]
        capsys.readouterr()

        mine = await client.get("/users/me", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "abc-123"})
        assert mine.headers["X-Request-ID"] == "abc-123"
        user_id = mine.json()["user_id"]
        forged = await client.get("/users/me", headers={"X-Request-ID": 'x" injected\\n{"level": "error"}'})
        assert forged.status_code == 401
        made = forged.headers["X-Request-ID"]
        assert len(made) == 32
        assert made != "abc-123"

        async def explode(*_: object, **__: object) -> NoReturn:
            raise RuntimeError("the feed exploded")

        monkeypatch.setattr(app.services.feeds, "home", explode)
        failed = await client.get("/feed", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "boom-1"})
        assert failed.status_code == 500
    text = capsys.readouterr().err
    access = [line for line in lines(text) if line.get("logger") == "polysocial.access"]
    assert [(a["request_id"], a["method"], a["route"], a["status"], a["user_id"]) for a in access] == [
        ("abc-123", "GET", "/users/me", 200, user_id),
        (made, "GET", "/users/me", 401, None),
        ("boom-1", "GET", "/feed", 500, user_id),
    ]
    assert all(a["event"] == "request" and a["duration_ms"] >= 0 and a["level"] == "info" for a in access)
    # the 500's own error line carries the request's id
    (error,) = [line for line in lines(text) if line.get("level") == "error"]
    assert error["request_id"] == "boom-1"
    assert token not in text
    assert password not in text


async def test_the_request_log_can_be_turned_off(
    app: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("warning")
    monkeypatch.setattr(app, "settings", app.settings.model_copy(update={"access_log": False}))
    transport = httpx.ASGITransport(app=create_app(app_state=app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/health/live")).status_code == 200
    assert "polysocial.access" not in capsys.readouterr().err
