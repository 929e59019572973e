"""Sessions kept in each server process's memory (services/sessions.py) end in every process at sign-out: on
`polysocial serve --workers 2`, a token that both workers have answered from memory is refused by both from the
first request after its logout answered, and so are a user's tokens after "sign out everywhere"."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest

from polysocial.api.metrics import PER_WORKER_EVERY_S
from polysocial.engines.embedded import EmbeddedEngines
from tests.conftest import isolated_settings
from tests.support.accounts import PASSWORD, sign_up
from tests.support.server import Server, serving

ROUNDS = 60  # requests per check, each on a new connection: the kernel spreads them over both workers


@pytest.fixture
def two_workers(embedded_engines: EmbeddedEngines, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = isolated_settings(embedded_engines, "sessions-workers")
    with serving(settings, tmp_path_factory.mktemp("sessions-workers"), workers=2) as server:
        yield server


async def statuses(base: str, token: str) -> list[int]:
    """``GET /users/me`` ROUNDS times, each on its own connection, a few at a time."""

    async def one() -> int:
        async with httpx.AsyncClient(base_url=base, timeout=30) as fresh:
            answer = await fresh.get("/users/me", headers={"Authorization": f"Bearer {token}"})
            return answer.status_code

    found: list[int] = []
    for _ in range(ROUNDS // 6):
        found += await asyncio.gather(*(one() for _ in range(6)))
    return found


def answered_by_memory(metrics: str) -> float:
    found = re.search(r'^polysocial_session_lookups_total\{source="memory"\} ([0-9.e+]+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.mark.slow
async def test_a_logout_ends_the_session_in_every_worker_at_once(two_workers: Server) -> None:
    async with httpx.AsyncClient(base_url=two_workers.base, timeout=30) as client:
        user = await sign_up(client)
        other = await sign_up(client)
        assert set(await statuses(two_workers.base, user.token)) == {200}
        assert set(await statuses(two_workers.base, other.token)) == {200}
        await asyncio.sleep(2 * PER_WORKER_EVERY_S)  # both workers' counters written
        before = answered_by_memory((await client.get("/metrics")).text)
        assert set(await statuses(two_workers.base, user.token)) == {200}
        await asyncio.sleep(2 * PER_WORKER_EVERY_S)
        assert answered_by_memory((await client.get("/metrics")).text) > before, "no session came from memory"

        out = await client.post("/auth/logout", headers={"Authorization": f"Bearer {user.token}"})
        assert out.status_code == 204, out.text
        assert set(await statuses(two_workers.base, user.token)) == {401}
        assert set(await statuses(two_workers.base, other.token)) == {200}

        again = await client.post("/auth/login", json={"email": other.email, "password": PASSWORD})
        second = again.json()["access_token"]
        assert set(await statuses(two_workers.base, second)) == {200}
        everywhere = await client.post("/auth/logout-all", headers={"Authorization": f"Bearer {second}"})
        assert everywhere.status_code == 204, everywhere.text
        for token in (other.token, second):
            assert set(await statuses(two_workers.base, token)) == {401}
