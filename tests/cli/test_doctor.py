"""`polysocial doctor` and the CLI's one-line errors, through the real command."""

from __future__ import annotations

from pathlib import Path

import pytest

from polysocial.config import Role, Settings
from tests.support.cli import run_cli


def test_doctor_is_green_on_the_embedded_profile(engines_dir: Path, embedded_settings: Settings) -> None:
    # 80 columns, as a terminal or a pipe gives: every URL still whole, on one line.
    result = run_cli("doctor", env={"POLYSOCIAL_DATA_DIR": str(engines_dir), "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    for role, engine in [("relational", "PostgreSQL"), ("graph", "FalkorDB"), ("keyvalue", "Redis")]:
        assert role in result.stdout
        assert engine in result.stdout
    assert " ms" in result.stdout
    lines = result.stdout.splitlines()
    for role in Role:
        url = embedded_settings.store_url(role).masked
        assert any(line.split() == [role.value, url] for line in lines), (role, url, result.stdout)
    status = run_cli("engines", "status", env={"POLYSOCIAL_DATA_DIR": str(engines_dir), "COLUMNS": "80"})
    assert status.returncode == 0, status.stderr
    assert any(
        line.split() == ["postgres", embedded_settings.embedded_postgres_url()] for line in status.stdout.splitlines()
    )


def test_no_help_labels_a_flag_as_taking_a_value() -> None:
    """Flags take no value: no `<bool>` beside them (typer 0.29 printed one, for --help too)."""
    from typer.main import get_command
    from typer.testing import CliRunner

    from polysocial.cli import app

    root = get_command(app)
    runner = CliRunner()
    paths: list[list[str]] = [[]]
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        paths.append([name])
        paths += [[name, sub] for sub in getattr(command, "commands", {})]
    for path in paths:
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
        assert shown.exit_code == 0, (path, shown.output)
        assert "<bool>" not in shown.output, path
        assert "Show this message and exit" in shown.output


@pytest.mark.seed_stack
def test_doctor_is_green_on_the_seed_profile(seed_settings: Settings) -> None:
    env = {"POLYSOCIAL_PROFILE": "seed"}
    for role in Role:
        env[f"POLYSOCIAL_{role.value.upper()}_URL"] = seed_settings.store_url(role).url
    result = run_cli("doctor", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    for engine in ("PostgreSQL", "FerretDB", "Neo4j", "Redis", "InfluxDB"):
        assert engine in result.stdout


def test_doctor_fails_naming_the_role_and_masked_url_when_a_store_is_down(
    engines_dir: Path, embedded_settings: Settings
) -> None:
    result = run_cli(
        "doctor",
        env={
            "POLYSOCIAL_DATA_DIR": str(engines_dir),
            "POLYSOCIAL_GRAPH_URL": "bolt://neo4j:sup3rsecret@127.0.0.1:1",
            "POLYSOCIAL_CONNECT_TIMEOUT_S": "2",
        },
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: graph store unreachable at bolt://neo4j:***@127.0.0.1:1")
    assert "sup3rsecret" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"POLYSOCIAL_KEYVALUE_URL": "http://u:sup3rsecret@x/"},
            "error: keyvalue URL http://u:***@x/ has scheme 'http'",
        ),
        ({"POLYSOCIAL_PROFILE": "mysql"}, "error: POLYSOCIAL_PROFILE: Input should be"),
    ],
)
def test_bad_settings_give_one_clear_line_and_exit_2(env: dict[str, str], expected: str) -> None:
    result = run_cli("doctor", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(expected), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "sup3rsecret" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_data_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli("doctor", env={"POLYSOCIAL_DATA_DIR": str(blocker / "data")})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("error: ")
    assert str(blocker) in result.stderr
    assert "Traceback" not in result.stderr


def test_a_url_without_a_scheme_is_masked_too() -> None:
    result = run_cli("doctor", env={"POLYSOCIAL_KEYVALUE_URL": "u:sup3rsecret@cache:6379/0"})
    assert result.returncode == 2
    assert "sup3rsecret" not in result.stdout + result.stderr
    assert "u:***@cache" in result.stderr
