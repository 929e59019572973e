"""Backup and restore on the `seed` profile: PostgreSQL (pg_dump), FerretDB (the documents in mongodump's layout),
InfluxDB (`influxd backup -portable`), Redis (the leaderboards), and the Neo4j graph rebuilt from the follow record.

A network with money and orders, views and a leaderboard; a backup; more writes, which a server's backup cannot
hold (no WAL archive here: the recovery point is the backup). After the restore the service agrees with itself as of
the backup: every write answered before it is back, money is conserved, `reconcile` finds no drift, the feeds and
the graph match the model, the views and the leaderboard are the backup's, and what came after it is gone.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from polysocial.engines.embedded import EmbeddedEngines
from polysocial.engines.seed_stack import SeedStack
from tests.reliability.test_restore_drill import (
    PASSWORD,
    PRICE,
    Ledger,
    activity,
    check_everything_answered_is_back,
    ok,
    open_shop,
)
from tests.support.cli import run_cli
from tests.support.server import Server

pytestmark = pytest.mark.slow

ADMIN = "seed-drill-admin@example.com"
NAME = "backupseed"


@pytest.fixture
def seed_env(seed_servers: SeedStack, embedded_engines: EmbeddedEngines, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The seed profile on stores of this test's own: a PostgreSQL database, a FerretDB database, an InfluxDB
    database and a Redis database (a restore deletes sessions and leaderboards: not the other tests')."""
    with psycopg.connect(embedded_engines.layout.postgres_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{NAME}"')
    influx = seed_servers.servers["influxdb"]
    yield {
        "POLYSOCIAL_PROFILE": "seed",
        "POLYSOCIAL_RELATIONAL_URL": embedded_engines.layout.postgres_url(NAME),
        "POLYSOCIAL_DOCUMENTS_URL": seed_servers.urls["ferretdb"].rsplit("/", 1)[0] + f"/{NAME}",
        "POLYSOCIAL_GRAPH_URL": seed_servers.urls["neo4j"],
        "POLYSOCIAL_KEYVALUE_URL": embedded_engines.layout.redis_url() + "?db=7",
        "POLYSOCIAL_TIMESERIES_URL": influx.url.rsplit("/", 1)[0] + f"/{NAME}",
        "POLYSOCIAL_TIMESERIES_BACKUP_ADDRESS": influx.admin_address,
        "POLYSOCIAL_SESSIONS_URL": seed_servers.urls["cassandra"].rsplit("/", 1)[0] + f"/{NAME}",
        "POLYSOCIAL_BACKUP_DIR": str(tmp_path / "backups"),
        "POLYSOCIAL_DATA_DIR": str(tmp_path / "data"),  # nothing embedded runs from it; pg_dump comes from the wheel
        "POLYSOCIAL_ARGON2_TIME_COST": "1",
        "POLYSOCIAL_ARGON2_MEMORY_KIB": "64",
    }
    with redis.Redis(unix_socket_path=str(embedded_engines.layout.redis_socket), db=7) as client:
        client.flushdb()
    with psycopg.connect(embedded_engines.layout.postgres_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')


def views_of(client: httpx.Client, world: Ledger, post: str) -> int:
    author = world.posts[post]
    return int(ok(client.get(f"/posts/{post}/stats", headers=world.auth(author))).json()["total"])


@pytest.mark.timeout(600)
def test_a_seed_profile_restore_brings_back_the_backup_and_rebuilds_the_graph(
    seed_env: dict[str, str], tmp_path: Path
) -> None:
    env = seed_env
    rng = random.Random(21)
    world = Ledger()
    server = Server(tmp_path / "data", tmp_path / "serve.log", env)
    server.start()
    try:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            product = open_shop(client, env, ADMIN)
            activity(client, world, rng, product, PRICE, 8)
            viewed = sorted(world.posts)[0]
            commenter = next(iter(world.tokens))
            ok(client.post(f"/posts/{viewed}/comments", json={"text": "first"}, headers=world.auth(commenter)))
            for user in list(world.tokens)[:5]:
                ok(client.get(f"/posts/{viewed}", headers=world.auth(user)))
            player = next(iter(world.tokens))
            ok(client.post("/leaderboards/marathon/scores", json={"score": 42}, headers=world.auth(player)))
            views = _wait_for_views(client, world, viewed, at_least=5)

            backup = run_cli("backup", "create", env=env, timeout=300)
            assert backup.returncode == 0, backup.stdout + backup.stderr
            assert "outbox position" in backup.stdout
            (manifest,) = (tmp_path / "backups").glob("*/manifest.json")
            documents = json.loads(manifest.read_text())["cut"]["contents"]["documents"]
            assert documents["posts"] == len(world.posts)
            # commented on within the last minute: the one post whose counter the restore checks
            assert documents["recent_comment_posts"] == [viewed]
            at_backup = copy.deepcopy(world)
            verified = run_cli("backup", "verify", env=env, timeout=300)
            assert verified.returncode == 0, verified.stdout + verified.stderr
            assert "(9 users)" in verified.stdout  # 8 and the administrator

            activity(client, world, rng, product, PRICE, 4)  # after the backup: not in it
            later = sorted(set(world.posts) - set(at_backup.posts))
            later_users = sorted(set(world.tokens) - set(at_backup.tokens))
            ok(client.post("/leaderboards/marathon/scores", json={"score": 99}, headers=world.auth(player)))
            for user in later_users:
                ok(client.get(f"/posts/{viewed}", headers=world.auth(user)))
            assert _wait_for_views(client, world, viewed, at_least=views + len(later_users)) > views
    finally:
        server.stop()

    listed = run_cli("backup", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "no WAL archive" in listed.stdout
    restored = run_cli("backup", "restore", env=env, timeout=400)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "later writes are not in it" in restored.stdout

    server = Server(tmp_path / "data", tmp_path / "serve-after.log", env)
    server.start()
    try:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            author = at_backup.posts[viewed]
            login = ok(client.post("/auth/login", json={"email": at_backup.emails[author], "password": PASSWORD}))
            at_backup.tokens[author] = login.json()["access_token"]
            # first, before the checks below read posts (a read is a view)
            assert views_of(client, at_backup, viewed) == views
            check_everything_answered_is_back(client, at_backup)
            for post in later:
                author = world.posts[post]
                answer = client.get(f"/posts/{post}", headers=at_backup.auth(next(iter(at_backup.tokens))))
                assert answer.status_code == 404, f"post {post} by {author} was written after the backup"
            for user in later_users:
                signin = client.post("/auth/login", json={"email": world.emails[user], "password": PASSWORD})
                assert signin.status_code == 401, f"user {user} signed up after the backup"
            followers = Counter(followee for _, followee in at_backup.follows)
            for user in at_backup.tokens:  # the graph was rebuilt: no edge from an account the backup does not hold
                counts = ok(client.get(f"/users/{user}/follow-counts", headers=at_backup.auth(user))).json()
                assert counts["followers"] == followers[user], f"user {user}'s followers"
            board = ok(client.get("/leaderboards/marathon?limit=10", headers=at_backup.auth(player))).json()
            assert [(e["member"], e["score"]) for e in board] == [(str(player), 42.0)]  # not 42 + 99
        drift = run_cli("reconcile", "--dry-run", env=env, timeout=300)
        assert drift.returncode == 0, drift.stdout + drift.stderr
        assert "drift: 0" in drift.stdout
    finally:
        server.stop()

    # a damaged backup is found out, and refused by restore
    (dump,) = (tmp_path / "backups").glob("*/documents/*/posts.bson.gz")
    with gzip.open(dump, "ab") as f:
        f.write(b"\0")
    damaged = run_cli("backup", "verify", env=env, timeout=300)
    assert damaged.returncode == 1
    assert "posts.bson.gz: checksum does not match the manifest" in damaged.stderr
    refused = run_cli("backup", "restore", env=env, timeout=120)
    assert refused.returncode == 2
    assert "is damaged" in refused.stderr


def _wait_for_views(client: httpx.Client, world: Ledger, post: str, *, at_least: int) -> int:
    """Views are written to InfluxDB in batches: wait until they are all there."""
    import time

    deadline = time.monotonic() + 30
    while (found := views_of(client, world, post)) < at_least:
        assert time.monotonic() < deadline, f"{found} views recorded, expected {at_least}"
        time.sleep(0.2)
    return found
