"""`polysocial accounts export` and `accounts delete`, run as a user would, against stores another process serves."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from polysocial.api.app import create_app
from polysocial.engines.embedded import EmbeddedEngines
from tests.cli.test_report import env_for
from tests.conftest import isolated_settings
from tests.support.apps import fresh_app
from tests.support.cli import run_cli
from tests.support.erasure import assert_no_trace, populate


async def test_export_then_delete_from_the_command_line(embedded_engines: EmbeddedEngines, tmp_path: Path) -> None:
    settings = isolated_settings(embedded_engines, "accounts")
    env = env_for(settings)
    async with fresh_app(settings, argon2_time_cost=1, argon2_memory_kib=64) as app:
        api = create_app(app_state=app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://test") as client:
            victim = await populate(client, app)
            uid = str(victim.me.user_id)

            target = tmp_path / "export.json"
            exported = run_cli("accounts", "export", uid, "--output", str(target), env=env)
            assert exported.returncode == 0, exported.stderr
            assert f"wrote the export of user {uid} to {target}" in exported.stderr
            document = json.loads(target.read_text())
            assert document["relational"]["user_profiles"][0]["name"] == victim.name
            assert sorted(p["text"] for p in document["documents"]["posts"]) == sorted(
                t for t in victim.texts if t.startswith("secret post")
            )
            to_stdout = run_cli("accounts", "export", uid, env=env)
            assert json.loads(to_stdout.stdout)["user_id"] == victim.me.user_id

            unasked = run_cli("accounts", "delete", uid, env=env, input_text="")
            assert unasked.returncode == 2
            assert "add --yes to confirm it" in unasked.stderr
            assert (await client.get("/users/me", headers=victim.me.auth)).status_code == 200  # untouched

            deleted = run_cli("accounts", "delete", uid, "--yes", env=env, input_text="")
            assert deleted.returncode == 0, deleted.stderr
            assert f"user {uid}: erasure started; 3 follows ended" in deleted.stdout
            assert "erased from every store" in deleted.stdout
            await assert_no_trace(app, client, victim)

            again = run_cli("accounts", "delete", uid, "--yes", env=env, input_text="")
            assert again.returncode == 0, again.stderr
            assert "it had been erased before: swept again" in again.stdout


def test_unknown_accounts_and_bad_ids_are_one_line_errors(embedded_engines: EmbeddedEngines) -> None:
    env = env_for(isolated_settings(embedded_engines, "accounts"))
    for command in (["export", "987654"], ["delete", "987654", "--yes"]):
        unknown = run_cli("accounts", *command, env=env, input_text="")
        assert unknown.returncode == 2, unknown.stderr
        assert "user 987654 does not exist" in unknown.stderr
        assert "Traceback" not in unknown.stderr
    zero = run_cli("accounts", "export", "0", env=env)
    assert zero.returncode == 2
    assert "Traceback" not in zero.stderr
