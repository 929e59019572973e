"""The embedded engines survive crashes: SIGKILL, stale pid files, two starts at once. Each test uses its own data
folder (never the session's engines) and stops every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from polysocial.config import Settings
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.engines.process import process_alive
from polysocial.engines.seed_stack import free_port
from tests.support.cli import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[EmbeddedEngines]:
    managed = EmbeddedEngines(Settings(data_dir=tmp_path / "data"))
    managed.up()
    yield managed
    managed.down()


def write_marks(engines: EmbeddedEngines) -> None:
    with psycopg.connect(engines.postgres.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS marks (name text PRIMARY KEY)")
        conn.execute("INSERT INTO marks VALUES ('committed before the crash')")
    with redis.Redis(unix_socket_path=str(engines.layout.redis_socket)) as client:
        client.set("mark", "written before the crash")
        client.execute_command("GRAPH.QUERY", "social", "CREATE (:User {id: 42})")
        # Wait until the append-only file holds these writes on disk (it is fsynced every second otherwise).
        local, _replicas = client.execute_command("WAITAOF", 1, 0, 5000)
        assert local == 1


def assert_marks(engines: EmbeddedEngines) -> None:
    with psycopg.connect(engines.postgres.url, autocommit=True) as conn:
        assert conn.execute("SELECT name FROM marks").fetchall() == [("committed before the crash",)]
    with redis.Redis(unix_socket_path=str(engines.layout.redis_socket)) as client:
        assert client.get("mark") == b"written before the crash"
        result = client.execute_command("GRAPH.QUERY", "social", "MATCH (u:User) RETURN u.id")
        assert result[1] == [[42]]


def sigkill(pid: int | None) -> None:
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process_alive(pid, name_contains="") and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.parametrize("victim", ["postgres", "redis", "both"])
def test_serve_brings_killed_engines_back_with_their_data(
    engines: EmbeddedEngines, victim: str, tmp_path: Path
) -> None:
    write_marks(engines)
    if victim in ("postgres", "both"):
        sigkill(engines.postgres.pid())
    if victim in ("redis", "both"):
        sigkill(engines.redis.pid())
    assert not all(s.running for s in engines.status())

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
    env["POLYSOCIAL_DATA_DIR"] = str(engines.layout.data_dir)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "polysocial", "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and serve.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None, log.read_text()
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    assert all(s.running for s in engines.status())
    assert_marks(engines)


def test_a_stale_pid_file_naming_another_live_process_is_cleaned_up(engines: EmbeddedEngines) -> None:
    write_marks(engines)
    engines.down()
    # A crash can leave pid files behind whose pid the system has since given to another process (here: this one).
    (engines.layout.postgres_data / "postmaster.pid").write_text(f"{os.getpid()}\n{engines.layout.postgres_data}\n")
    engines.layout.redis_pidfile.write_text(f"{os.getpid()}\n")
    statuses = engines.up()
    assert all(s.running for s in statuses)
    assert all(s.pid != os.getpid() for s in statuses)
    assert_marks(engines)


def test_two_processes_starting_at_once_share_one_set_of_engines(tmp_path: Path) -> None:
    data = tmp_path / "shared"
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = list(pool.map(lambda _: run_cli("engines", "up", "--data-dir", str(data)), range(2)))
        assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
        engines = EmbeddedEngines(Settings(data_dir=data))
        pids = {s.engine: s.pid for s in engines.status()}
        assert all(pids.values())
        for run in runs:  # both report the same, single, running pair
            for pid in pids.values():
                assert str(pid) in run.stdout
    finally:
        EmbeddedEngines(Settings(data_dir=data)).down()


def test_engines_status_and_down_through_the_command(tmp_path: Path) -> None:
    data = str(tmp_path / "cli")
    assert run_cli("engines", "status", "--data-dir", data).returncode == 1  # nothing running yet
    try:
        assert run_cli("engines", "up", "--data-dir", data).returncode == 0
        status = run_cli("engines", "status", "--data-dir", data)
        assert status.returncode == 0
        assert status.stdout.count("running") == 2
    finally:
        assert run_cli("engines", "down", "--data-dir", data).returncode == 0
    assert run_cli("engines", "status", "--data-dir", data).returncode == 1
