"""Every endpoint in the OpenAPI schema, fuzzed over real HTTP against the embedded profile.

New endpoints are picked up automatically: the test walks every operation the live schema lists, half of the
examples signed in (a real session) and half not. The checks are schemathesis's (no 5xx, responses that match the
schema, documented status codes and content types, schema-invalid input refused) plus our own: every 4xx is
problem+json with a detail.

Configured, with reasons:
- ``positive_data_acceptance`` also accepts 422: some rules cannot be written in JSON Schema (18 or older, text
  PostgreSQL can store), so schema-valid input may still be refused. Those 422s are checked to be problem+json.
- hypothesis is driven through each operation's ``as_strategy()`` rather than ``schemathesis.pytest.from_fixture``,
  whose node renaming relies on pytest internals that pytest 9.2 removed (``Function._nodeid``).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Err, Ok

from polysocial.config import Role, Settings
from polysocial.domain.accounts import UserRole
from polysocial.services.sessions import SessionPolicy, Sessions
from polysocial.stores.factory import make_sessions
from polysocial.stores.postgres_pool import PostgresPools
from tests.support.live import live_server

EXAMPLES_PER_OPERATION = 60
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]}}}
)


def sign_up(base_url: str) -> int:
    email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
    created = httpx.post(
        f"{base_url}/auth/register",
        json={"email": email, "password": "correct horse battery staple", "name": "Fuzz", "birthdate": "1990-01-01"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    return int(created.json()["user_id"])


def new_session(settings: Settings, user_id: int, role: UserRole = UserRole.USER) -> str:
    """A session opened the way POST /auth/login opens one, without a login: the fuzzed logins use up the client
    address's failed-login allowance (the limiter at work), and each fuzzed logout ends the session it is given."""

    async def run() -> str:
        pools = PostgresPools()
        store = make_sessions(settings.store_url(Role.SESSIONS), pools)
        await store.open()
        try:
            policy = SessionPolicy(settings.session_idle_s, settings.session_absolute_s)
            return await Sessions(store, policy, backup=None).open(user_id, role)
        finally:
            await store.close()
            await pools.close()

    return asyncio.run(run())


def make_exercise(
    operation: Any, app_settings: Settings, user_id: int, tokens: dict[str, str], signed_in: Iterator[str]
) -> Callable[[], None]:
    ends_session = operation.path == "/auth/logout"

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Case[Any]) -> None:
        headers = {}
        who = next(signed_in)
        if who != "nobody":
            session = new_session(app_settings, user_id) if ends_session else tokens[who]
            headers["Authorization"] = f"Bearer {session}"
        response = case.call_and_validate(headers=headers)
        if 400 <= response.status_code < 500:
            content_type = response.headers.get("content-type", [""])[0]  # schemathesis keeps every value
            assert content_type.startswith("application/problem+json"), response.text
            assert response.json().get("detail"), response.text

    return exercise


# The server runs in a thread of this process, and libraries in it draw from the random module's shared state
# (psycopg_pool's jitter on a new connection's lifetime). Hypothesis notices the state moving while it draws a case and
# warns that a strategy used `random` (which this file's `error` filter made a failure, flakily: CI of 8707334). No
# strategy here uses it; the warning is about the other thread, so it is ignored for this test only.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
def test_every_endpoint_honours_its_schema(embedded_settings: Settings) -> None:
    with live_server(embedded_settings) as base_url:
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=CONFIG)
        results = list(schema.get_all_operations())
        broken = [result.err() for result in results if isinstance(result, Err)]
        assert not broken, f"operations the schema cannot describe: {broken}"
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert operations, "the schema lists no operation"
        user_id = sign_up(base_url)
        # A user, an administrator (the administrator's endpoints get their bodies fuzzed too), and nobody.
        tokens = {
            "user": new_session(embedded_settings, user_id),
            "admin": new_session(embedded_settings, sign_up(base_url), UserRole.ADMIN),
        }
        signed_in = itertools.cycle(["user", "admin", "nobody"])

        for operation in operations:
            exercise = make_exercise(operation, embedded_settings, user_id, tokens, signed_in)
            try:
                exercise()
            except Exception as exc:
                pytest.fail(f"{operation.label}: {exc}")
