"""Secrets never reach the log: an unexpected error (a 500) with a bearer token and a password in the failing frames'
local variables, and an outage while signing in and using the token, then the captured output is searched."""

from __future__ import annotations

import logging
import secrets
from typing import NoReturn

import httpx
import pytest

from polysocial.api.app import create_app
from polysocial.bootstrap import App
from polysocial.domain.errors import StoreUnavailable
from polysocial.logging import configure_logging, redact_text
from tests.support.accounts import registration


def unavailable(error: StoreUnavailable) -> object:
    async def fail(*_: object, **__: object) -> NoReturn:
        raise error

    return fail


def broken(what: str) -> object:
    async def fail(*_: object, **__: object) -> NoReturn:
        raise RuntimeError(f"{what} exploded")

    return fail


async def test_a_500_and_an_outage_log_neither_the_token_nor_the_password(
    app: App, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging()  # the configuration `polysocial serve` runs with
    password = f"correct horse {secrets.token_hex(8)}"
    body = registration(password=password)
    transport = httpx.ASGITransport(app=create_app(app_state=app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/auth/register", json=body)).status_code == 201
        login = await client.post("/auth/login", json={"email": body["email"], "password": password})
        token = login.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        # 500s with the token (the route's caller) and the password (the request body) in the failing frames
        with monkeypatch.context() as patch:
            patch.setattr(app.services.feeds, "home", broken("the feed"))
            assert (await client.get("/feed", headers=auth)).status_code == 500
        with monkeypatch.context() as patch:
            patch.setattr(app.services.accounts.passwords, "hash", broken("hashing"))
            again = registration(password=password)
            assert (await client.post("/auth/register", json=again)).status_code == 500

        # an outage of the key-value and sessions roles (one Redis) while signing in and using the token
        down = StoreUnavailable("keyvalue", "redis://:s3cret@cache:6379/0", f"connection refused; {auth}")
        monkeypatch.setattr(app.stores.keyvalue, "rate_limit", unavailable(down))
        for verb in ("create", "read", "revoke", "revoke_user"):
            monkeypatch.setattr(app.stores.sessions, verb, unavailable(down))
        relogin = await client.post("/auth/login", json={"email": body["email"], "password": password}, headers=auth)
        assert relogin.status_code == 503, relogin.text
        assert (await client.get("/users/me", headers=auth)).status_code == 200  # the session's PostgreSQL copy

    output = capsys.readouterr()
    log = output.err + output.out
    assert log.count("unhandled error") == 2, log
    assert "Traceback" in log  # the errors are there, with their tracebacks
    assert "the feed exploded" in log
    assert "store unavailable" in log
    assert token not in log
    assert password not in log
    assert token[:16] not in log
    assert "s3cret" not in log


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.DEF-123_~+/=", "abc.DEF-123_~+/="),
        ("headers={'authorization': 'Basic dXNlcjpwdw=='}", "dXNlcjpwdw=="),
        ("Registration(email='a@b.c', password='hunter2 horse')", "hunter2 horse"),
        ('{"access_token": "tok-123", "token_type": "bearer"}', "tok-123"),
        ("postgresql://app:s3cret@db:5432/app", "s3cret"),
        ("host=db user=app password=s3cret dbname=app", "s3cret"),
        ("redis://:s3cret@cache:6379/0?password=other", "other"),
    ],
)
def test_redaction_blanks_every_kind_of_secret(text: str, secret: str) -> None:
    assert secret not in redact_text(text)
    assert "***" in redact_text(text)


def test_other_libraries_log_through_the_same_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    """uvicorn, psycopg and the drivers log with the standard library: their lines go through ``redact`` too."""
    configure_logging()
    token, password = secrets.token_urlsafe(24), f"pw-{secrets.token_hex(8)}"
    logging.getLogger("psycopg.pool").warning("error connecting in 'pool-1': postgresql://app:%s@db/app", password)
    try:
        raise RuntimeError(f"request failed; Authorization: Bearer {token}")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("httpx").info("HTTP Request: GET http://test/feed (token=%s)", token)  # below warning: not shown
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "error connecting in 'pool-1'" in output
    assert "Exception in ASGI application" in output
    assert "RuntimeError" in output  # the traceback is there, plain
    assert password not in output
    assert token not in output
    assert "HTTP Request" not in output
