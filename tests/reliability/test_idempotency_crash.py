"""A server dies holding an Idempotency-Key (SIGKILL-like: os._exit at the failpoint right after the claim). After a
restart, the client's retry with the same key completes within seconds, and the money moved exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from polysocial import failpoints
from polysocial.bootstrap import App
from polysocial.config import Role, Settings
from polysocial.domain.accounts import NewAccount
from polysocial.domain.consistency import Operation
from polysocial.domain.idempotency import LEASE_S
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.engines.seed_stack import free_port
from polysocial.services import idempotency
from polysocial.services.idempotency import IdempotentRequest, Reply, TakenOver
from polysocial.stores.relational.protocol import RelationalTx
from tests.conftest import isolated_settings
from tests.support.accounts import registration
from tests.support.server import Server

pytestmark = pytest.mark.slow

RETRY_WITHIN_S = 5.0


@contextmanager
def serve(settings: Settings, folder: Path, port: int, *, failpoint: str | None = None) -> Iterator[Server]:
    """`polysocial serve` in a child process on ``settings``' stores, ready when /health/live answers; stopped by
    its PID at the end (if the failpoint has not ended it)."""
    env = {f"POLYSOCIAL_{role.value.upper()}_URL": settings.store_url(role).url for role in Role}
    if failpoint:
        env["POLYSOCIAL_FAILPOINTS"] = failpoint
    server = Server(folder, folder / "serve.log", env, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_retry_takes_over_the_key_of_a_dead_request_within_seconds_and_pays_once(
    embedded_engines: EmbeddedEngines, tmp_path: Path
) -> None:
    settings = isolated_settings(embedded_engines, "idempotency_crash")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    deposit = {"amount": "25.00"}
    with serve(settings, tmp_path, port, failpoint=failpoints.IDEMPOTENCY_AFTER_CLAIM) as doomed:
        body = registration()
        assert httpx.post(f"{base}/auth/register", json=body, timeout=30).status_code == 201
        login = httpx.post(f"{base}/auth/login", json={"email": body["email"], "password": body["password"]})
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        with pytest.raises(httpx.TransportError):  # the process died mid-request: no answer at all
            httpx.post(f"{base}/wallet/deposits", json=deposit, headers={**auth, **key}, timeout=30)
        assert doomed.process is not None
        assert doomed.process.wait(timeout=30) == failpoints.EXIT_CODE

    with serve(settings, tmp_path, port):
        started = time.monotonic()
        answers = []
        while True:
            answer = httpx.post(f"{base}/wallet/deposits", json=deposit, headers={**auth, **key}, timeout=30)
            answers.append(answer.status_code)
            if answer.status_code != 409:
                break
            assert "in progress" in answer.json()["detail"]
            assert time.monotonic() - started < RETRY_WITHIN_S, answers
            time.sleep(0.25)
        waited = time.monotonic() - started
        assert answer.status_code == 201, answer.text
        assert waited < RETRY_WITHIN_S
        assert waited <= LEASE_S + 1  # the dead request's lease, no more
        assert Decimal(answer.json()["balance"]) == Decimal("25.00")
        again = httpx.post(f"{base}/wallet/deposits", json=deposit, headers={**auth, **key}, timeout=30)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == answer.json()
        ledger = httpx.get(f"{base}/wallet/ledger", headers=auth, timeout=30).json()["items"]
        assert [e["kind"] for e in ledger] == ["deposit"]  # exactly one effect
        assert Decimal(httpx.get(f"{base}/wallet", headers=auth, timeout=30).json()["balance"]) == Decimal("25.00")


async def test_a_request_that_outlives_its_lease_is_rolled_back_and_its_retry_pays_once(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The late owner's answer cannot be recorded over the retry's: its transaction (with its deposit) rolls back."""
    monkeypatch.setattr(idempotency, "LEASE_S", 0.3)
    async with app.stores.relational.transaction() as tx:
        user = await tx.accounts.insert_account(
            NewAccount("late@example.com", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "Late", date(1990, 1, 1))
        )
    request = IdempotentRequest.of("late-key", "POST", "/wallet/deposits", {"amount": "10.00"})

    async def slow(tx: RelationalTx) -> Decimal:
        balance = await tx.wallet.deposit(user, Decimal("10.00"))
        await asyncio.sleep(0.8)  # past the lease: meanwhile the retry takes the key over
        return balance

    async def prompt(tx: RelationalTx) -> Decimal:
        return await tx.wallet.deposit(user, Decimal("10.00"))

    async def retry_later() -> Reply:
        await asyncio.sleep(0.5)
        return await app.services.wallet.idempotency.run(user, request, Operation.DEPOSIT, prompt, str, status=201)

    first, retry = await asyncio.gather(
        app.services.wallet.idempotency.run(user, request, Operation.DEPOSIT, slow, str, status=201),
        retry_later(),
        return_exceptions=True,
    )
    assert isinstance(first, TakenOver), first
    assert isinstance(retry, Reply), retry
    assert retry.body == "10.00"
    async with app.stores.relational.transaction() as tx:
        assert await tx.wallet.balance(user) == Decimal("10.00")  # once, by the retry
        assert [e.kind for e in await tx.wallet.ledger(user, before=None, limit=10)] == ["deposit"]
