"""Schemathesis from its command line, as an outsider would run it, with every check, against `polysocial serve`
over HTTP: once with no credentials, once with a user's token (logout excluded there: it would end the session the
run uses). Bounded by examples, deterministically; the settings the checks take are in `schemathesis.toml` at the
project root, each with its reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from polysocial.config import Settings
from tests.support.accounts import registration
from tests.support.live import live_server

# Bounded by examples, not time (deterministic generation, so every run does the same work: about 2 minutes a run
# here); the timeout is a safety net well above that.
RUN_TIMEOUT_S = 600
pytestmark = [pytest.mark.slow, pytest.mark.timeout(RUN_TIMEOUT_S + 60)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 15


@pytest.fixture(scope="module")
def base_url(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


def run_schemathesis(base_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--generation-deterministic",
        "--request-timeout",
        "30",
        "--no-color",
        *extra,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env, check=False
    )


@pytest.fixture(scope="module")
def token(base_url: str) -> str:
    """A user's session, opened before any fuzzing: the unauthenticated run's failed logins use up this address's
    login allowance (the limiter at work), after which a login here would get 429."""
    body = registration()
    assert httpx.post(f"{base_url}/auth/register", json=body, timeout=30).status_code == 201
    login = httpx.post(
        f"{base_url}/auth/login", json={"email": body["email"], "password": body["password"]}, timeout=30
    )
    return str(login.json()["access_token"])


def test_no_credentials(base_url: str, token: str) -> None:
    """(``token`` is asked for only so that the session is opened before this run's logins.)"""
    result = run_schemathesis(base_url)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


def test_with_a_users_token(base_url: str, token: str) -> None:
    result = run_schemathesis(base_url, "--header", f"Authorization: Bearer {token}", "--exclude-path", "/auth/logout")
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
