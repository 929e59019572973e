"""deploy/: the Compose file validates against the Compose Specification (compose-go, the library Docker Compose
loads files with), its environment names exactly the settings the program reads, and the Dockerfile is multi-stage,
non-root, with a healthcheck on the readiness endpoint. Validated, never run: no container runtime is reachable."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from polysocial.config import Role, Settings
from polysocial.logging import LOG_JSON_ENV, LOG_LEVEL_ENV
from tests.support.routes import everything

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "REPLICATION_PASSWORD": "repl-secret",
    "INFLUXDB_TOKEN": "influx-token",
    "INFLUXDB_PASSWORD": "influx-secret",
}
POLYSOCIAL_SERVICES = ("api", "worker")


def validate(compose: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The validator .ci/run builds, or `go run` (which fetches compose-go from the Go module proxy once)."""
    built = shutil.which("polysocial-compose-validate")
    if built is None and shutil.which("go") is None:
        pytest.fail("neither the Compose validator nor Go is installed: .ci/run builds the validator with Go")
    command = [built, str(compose)] if built else ["go", "run", ".", str(compose)]
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        command, cwd=DEPLOY / "validate", env={**clean, **env}, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def loaded() -> dict[str, Any]:
    result = validate(DEPLOY / "compose.yaml", SECRETS)
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def setting_names() -> set[str]:
    return {f"POLYSOCIAL_{name.upper()}" for name in Settings.model_fields} | {LOG_JSON_ENV, LOG_LEVEL_ENV}


def test_the_compose_file_validates_and_every_polysocial_variable_is_a_setting(loaded: dict[str, Any]) -> None:
    services = loaded["services"]
    assert {"api", "worker", "proxy", "postgres", "postgres-replica", "neo4j", "influxdb"} <= set(services)
    assert {f"mongo-{i}" for i in (1, 2, 3)} <= set(services)
    assert {f"redis-{i}" for i in range(1, 7)} <= set(services)
    for name in POLYSOCIAL_SERVICES:
        env = services[name]
        ours = {k for k in env if k.startswith("POLYSOCIAL_")}
        assert ours <= setting_names(), ours - setting_names()
        role_urls = {f"POLYSOCIAL_{role.value.upper()}_URL" for role in Role}
        assert role_urls <= ours, role_urls - ours  # every role is named: nothing falls back on a default
        assert env[LOG_JSON_ENV] in {"0", "1"}


def test_the_polysocial_services_environment_is_accepted_by_the_settings(
    loaded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in POLYSOCIAL_SERVICES:
        for key in [k for k in os.environ if k.startswith("POLYSOCIAL_")]:
            monkeypatch.delenv(key)
        env = loaded["services"][name]
        for key, value in env.items():
            if key.startswith("POLYSOCIAL_") and key not in (LOG_JSON_ENV, LOG_LEVEL_ENV):
                monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.profile.value == "seed"
        assert settings.relay_in_process is False  # the workers deliver; the API servers do not
        assert settings.store_url(Role.KEYVALUE).url.endswith("?cluster=true")
        assert [u.url for u in settings.replica_urls()] == [env["POLYSOCIAL_RELATIONAL_REPLICA_URLS"]]


def test_no_secret_is_written_in_the_deploy_files() -> None:
    """Every password, token or URL credential is an interpolation from the environment, never a value."""
    for path in DEPLOY.rglob("*"):
        if not path.is_file() or path.suffix not in {".yaml", ".sh", ".conf"}:
            continue
        text = path.read_text()
        values = re.findall(r"(?im)^\s*[A-Z_]*(?:PASSWORD|TOKEN|SECRET)[A-Z_]*\s*:\s*(\S+)", text)
        values += re.findall(r"://[^/:@\s]+:([^@\s]+)@", text)
        values += re.findall(r"(?i)PASSWORD '([^']*)'", text)
        assert values or path.suffix != ".yaml", path  # the compose file has secrets to check
        for value in values:
            assert value.strip("'\"").startswith("${"), (path, value)


def test_a_broken_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    text = (DEPLOY / "compose.yaml").read_text()
    broken.write_text(
        text.replace("    restart: unless-stopped\n", "    restart: unless-stopped\n    restartt: no\n", 1)
    )
    for name in ("postgres", "nginx"):
        (tmp_path / name).symlink_to(DEPLOY / name)
    result = validate(broken, SECRETS)
    assert result.returncode == 1
    assert "restartt" in result.stderr
    missing = validate(DEPLOY / "compose.yaml", {})  # a secret not given: refused, not an empty password
    assert missing.returncode == 1
    assert "set POSTGRES_PASSWORD" in missing.stderr


def test_the_dockerfile_is_multi_stage_non_root_with_a_readiness_healthcheck(loaded: dict[str, Any]) -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in dockerfile.splitlines() if line and not line.startswith("#")]
    stages = [rest for word, *rest in instructions if word == "FROM"]
    assert len(stages) >= 2
    users = [rest[0].strip() for word, *rest in instructions if word == "USER"]
    assert users
    assert users[-1] not in {"root", "0"}
    healthcheck = dockerfile[dockerfile.index("HEALTHCHECK") :]
    assert "/health/ready" in healthcheck
    assert ("GET", "/health/ready") in everything()
    for word, *rest in instructions:
        if word == "COPY" and "--from" not in rest[0]:
            for source in rest[0].split()[:-1]:
                assert (REPO / source).exists(), source
