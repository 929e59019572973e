"""`polysocial backup` at its edges: a store that does not answer, a restore to a time a server's backup cannot give,
and which backups each profile makes (the drills in tests/reliability run them end to end)."""

from __future__ import annotations

from pathlib import Path

from polysocial.config import Settings
from polysocial.engines.backup import Backups
from polysocial.engines.backup_servers import ServerBackups, backups_for
from tests.support.cli import run_cli

SECRET = "hunter2-not-in-output"


def seed_env(tmp_path: Path) -> dict[str, str]:
    return {
        "POLYSOCIAL_PROFILE": "seed",
        "POLYSOCIAL_RELATIONAL_URL": f"postgresql://polysocial:{SECRET}@127.0.0.1:1/polysocial",
        "POLYSOCIAL_DOCUMENTS_URL": f"postgresql://polysocial:{SECRET}@127.0.0.1:1/polysocial",
        "POLYSOCIAL_BACKUP_DIR": str(tmp_path / "backups"),
    }


def test_a_store_that_does_not_answer_is_named_with_its_password_masked(tmp_path: Path) -> None:
    result = run_cli("backup", "create", env=seed_env(tmp_path), timeout=60)
    assert result.returncode == 2
    assert "the relational store (postgresql://polysocial:***@127.0.0.1:1/polysocial) failed" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "backups").glob("*")), "a failed backup leaves nothing behind"


def test_a_servers_backup_has_no_point_in_time_to_restore_to(tmp_path: Path) -> None:
    result = run_cli("backup", "restore", "--to-time", "2026-12-03T10:00:00+00:00", env=seed_env(tmp_path))
    assert result.returncode == 2
    assert "--to-time needs a WAL archive" in result.stderr


def test_each_profile_gets_the_backups_its_stores_need(tmp_path: Path) -> None:
    assert type(backups_for(Settings(data_dir=tmp_path))) is Backups
    assert type(backups_for(Settings(profile="postgres-only", data_dir=tmp_path))) is Backups
    seed = backups_for(Settings(profile="seed", data_dir=tmp_path))
    assert isinstance(seed, ServerBackups)
    assert seed.mongo_url == "mongodb://localhost:27017/polysocial"
    assert seed.empties_graph  # Neo4j: a projection, rebuilt
    assert seed.checks_counters  # the documents are not one snapshot
    assert list(seed.pg_dumps) == ["relational"]
    # every role in one external PostgreSQL: one dump holds them all, the graph with it
    url = "postgresql://db.internal/polysocial"
    one = ServerBackups(Settings(profile="postgres-only", relational_url=url, data_dir=tmp_path))
    assert list(one.pg_dumps) == ["relational"]
    assert not one.empties_graph
    assert not one.checks_counters  # the documents are in the same snapshot as their counters' sources
    assert one.mongo_url is None
    assert one.influx is None
    assert one.redis_url is None
