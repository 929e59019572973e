"""`polysocial admin create`: the only way to make an administrator."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from polysocial.config import Settings
from tests.support.cli import run_cli
from tests.support.live import live_server

PASSWORD = "an admin passphrase"


def run_with_stdin(args: list[str], env: dict[str, str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polysocial", *args],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_admin_create_makes_a_new_administrator_who_can_see_the_relay(
    engines_dir: Path, embedded_settings: Settings
) -> None:
    email = f"root-{uuid.uuid4().hex[:8]}@example.com"
    env = {"POLYSOCIAL_DATA_DIR": str(engines_dir)}
    created = run_with_stdin(["admin", "create", email, "--password-stdin"], env, PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert f"created administrator {email}" in created.stdout

    with live_server(embedded_settings) as base:
        login = httpx.post(f"{base}/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        me = httpx.get(f"{base}/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert me.json()["role"] == "admin"
        relay = httpx.get(f"{base}/admin/relay", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert relay.status_code == 200


def test_admin_create_promotes_an_existing_account(engines_dir: Path, embedded_settings: Settings) -> None:
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    env = {"POLYSOCIAL_DATA_DIR": str(engines_dir)}
    assert run_with_stdin(["admin", "create", email, "--password-stdin"], env, PASSWORD + "\n").returncode == 0
    again = run_cli("admin", "create", email.upper(), env=env)
    assert again.returncode == 0, again.stderr
    assert f"promoted {email}" in again.stdout


def test_admin_create_refuses_a_bad_birthdate_in_one_line(engines_dir: Path, embedded_settings: Settings) -> None:
    env = {"POLYSOCIAL_DATA_DIR": str(engines_dir)}
    result = run_with_stdin(
        ["admin", "create", f"x-{uuid.uuid4().hex[:6]}@example.com", "--birthdate", "yesterday", "--password-stdin"],
        env,
        PASSWORD + "\n",
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: --birthdate 'yesterday' is not a date")


def test_admin_create_refuses_what_the_api_would_refuse_as_an_email(tmp_path: Path) -> None:
    result = run_with_stdin(
        ["admin", "create", "notanemail", "--name", "X", "--password-stdin"],
        {"POLYSOCIAL_DATA_DIR": str(tmp_path / "never-made")},
        PASSWORD,
    )
    assert result.returncode == 2
    assert "'notanemail' is not an email address" in result.stderr
    assert not (tmp_path / "never-made").exists()  # refused before any engine started
