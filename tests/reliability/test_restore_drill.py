"""The restore drill, on the embedded profile, as an operator would live it: a network with money and orders, a
backup, more writes, then every process SIGKILLed (the server, PostgreSQL, Redis, the WAL receiver) and the data
folder deleted. `polysocial backup restore` brings back the latest point, and the service must agree with itself:

- every write answered 2xx before the point is there (accounts, follows, posts, money, orders);
- money is conserved: every balance is what the answered deposits, transfers, orders and refunds make it, and every
  ledger sums to its balance;
- `polysocial reconcile --dry-run` finds no drift;
- the home feeds and the graph's answers match a model built from the answered writes.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest

from polysocial.config import EMBEDDED_DATABASE, Settings
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.engines.process import read_pid, wait_until
from tests.support.cli import run_cli
from tests.support.server import Server

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
ADMIN = "drill-admin@example.com"
PRICE = Decimal("12.50")


@dataclass
class Ledger:
    """What the answered writes say the platform holds: the model the restored service is checked against."""

    tokens: dict[int, str] = field(default_factory=dict)
    emails: dict[int, str] = field(default_factory=dict)
    balances: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    follows: set[tuple[int, int]] = field(default_factory=set)
    posts: dict[str, int] = field(default_factory=dict)  # post id -> author
    orders: dict[int, int] = field(default_factory=dict)  # order id -> buyer

    def auth(self, user: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def ok(response: httpx.Response) -> httpx.Response:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
    return response


def sign_up(client: httpx.Client, world: Ledger) -> int:
    email = f"drill-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "name": f"Drill {len(world.tokens)}", "birthdate": "1990-01-01"}
    user = int(ok(client.post("/auth/register", json=body)).json()["user_id"])
    token = ok(client.post("/auth/login", json={"email": email, "password": PASSWORD})).json()["access_token"]
    world.tokens[user], world.emails[user] = token, email
    return user


def activity(client: httpx.Client, world: Ledger, rng: random.Random, product: int, price: Decimal, n: int) -> None:
    """``n`` users more, and for each: follows, a post, a deposit, a transfer, an order (some cancelled)."""
    for _ in range(n):
        sign_up(client, world)
    users = sorted(world.tokens)
    for user in users[-n:]:
        for other in rng.sample([u for u in users if u != user], min(3, len(users) - 1)):
            ok(client.post(f"/users/{other}/follow", headers=world.auth(user)))
            world.follows.add((user, other))
        post = ok(client.post("/posts", json={"text": f"post by {user}"}, headers=world.auth(user))).json()
        world.posts[post["id"]] = user
        key = {"Idempotency-Key": uuid.uuid4().hex}
        ok(client.post("/wallet/deposits", json={"amount": "50.00"}, headers={**world.auth(user), **key}))
        world.balances[user] += Decimal("50.00")
        to = rng.choice([u for u in users if u != user])
        key = {"Idempotency-Key": uuid.uuid4().hex}
        ok(client.post("/transfers", json={"to_user_id": to, "amount": "7.25"}, headers={**world.auth(user), **key}))
        world.balances[user] -= Decimal("7.25")
        world.balances[to] += Decimal("7.25")
        key = {"Idempotency-Key": uuid.uuid4().hex}
        order = ok(
            client.post(
                "/orders",
                json={"items": [{"product_id": product, "quantity": 1}]},
                headers={**world.auth(user), **key},
            )
        ).json()
        world.orders[order["order_id"]] = user
        world.balances[user] -= price
        if rng.random() < 0.3:
            key = {"Idempotency-Key": uuid.uuid4().hex}
            ok(client.post(f"/orders/{order['order_id']}/cancel", headers={**world.auth(user), **key}))
            world.balances[user] += price


def open_shop(client: httpx.Client, env: dict[str, str], admin_email: str) -> int:
    """An administrator (made by the CLI) and a product priced PRICE with plenty of stock: its id."""
    made = run_cli("admin", "create", admin_email, "--password-stdin", env=env, input_text=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    admin = ok(client.post("/auth/login", json={"email": admin_email, "password": PASSWORD})).json()["access_token"]
    product = client.post(
        "/products",
        json={"name": "lamp", "price": str(PRICE), "stock": 1000},
        headers={"Authorization": f"Bearer {admin}"},
    )
    return int(ok(product).json()["product_id"])


def receiver_caught_up(data: Path) -> bool:
    """The WAL receiver has flushed everything the server has written (then nothing answered is outside the
    archive when the server dies)."""
    engines = EmbeddedEngines(Settings(data_dir=data))
    with psycopg.connect(engines.layout.postgres_url(EMBEDDED_DATABASE), autocommit=True) as conn:
        row = conn.execute(
            "SELECT flush_lsn >= pg_current_wal_lsn() FROM pg_stat_replication WHERE application_name = 'pg_receivewal'"
        ).fetchone()
    return bool(row and row[0])


def kill_everything(server: Server, data: Path) -> None:
    engines = EmbeddedEngines(Settings(data_dir=data))
    pids = [
        read_pid(engines.layout.postgres_data / "postmaster.pid"),
        read_pid(engines.layout.redis_pidfile),
        read_pid(engines.postgres.receiver_pidfile),
    ]
    server.kill()
    for pid in pids:
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: engines.postgres.pid() is None and engines.redis.pid() is None, timeout_s=30)


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    data = tmp_path / "data"
    env = {
        "POLYSOCIAL_DATA_DIR": str(data),
        "POLYSOCIAL_BACKUP_DIR": str(tmp_path / "backups"),
        # argon2 at its cheapest: the drill signs many users up; the hashing cost is not its subject
        "POLYSOCIAL_ARGON2_TIME_COST": "1",
        "POLYSOCIAL_ARGON2_MEMORY_KIB": "64",
    }
    yield data, env
    run_cli("engines", "down", env=env)  # whatever the test left running, by the pid files


@pytest.mark.timeout(420)
def test_a_restore_after_losing_everything_brings_back_a_service_that_agrees_with_itself(
    folders: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    data, env = folders
    rng = random.Random(20)
    world = Ledger()
    server = Server(data, tmp_path / "serve.log", env)
    server.start()
    with httpx.Client(base_url=server.base, timeout=30) as client:
        product = open_shop(client, env, ADMIN)
        activity(client, world, rng, product, PRICE, 10)

        backup = run_cli("backup", "create", env=env)
        assert backup.returncode == 0, backup.stderr
        verified = run_cli("backup", "verify", env=env)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "checksums match; it restores into a scratch folder and answers (11 users)" in verified.stdout

        activity(client, world, rng, product, PRICE, 8)  # after the backup: only in the WAL archive
    assert wait_until(lambda: receiver_caught_up(data), timeout_s=30, interval_s=0.1)
    kill_everything(server, data)
    shutil.rmtree(data)

    restored = run_cli("backup", "restore", env=env, timeout=300)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "sessions were not restored" in restored.stdout

    server = Server(data, tmp_path / "serve-after.log", env)
    server.start()
    try:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            check_everything_answered_is_back(client, world)
        drift = run_cli("reconcile", "--dry-run", env=env, timeout=300)
        assert drift.returncode == 0, drift.stdout + drift.stderr
        assert "drift: 0" in drift.stdout
    finally:
        server.stop()
    listed = run_cli("backup", "list", env=env)
    assert listed.returncode == 0
    assert "WAL archive:" in listed.stdout
    assert "streaming" in listed.stdout
    # a damaged backup is found out
    (base,) = (tmp_path / "backups").glob("*/postgres/base.tar.gz")
    with base.open("ab") as f:
        f.write(b"\0")
    damaged = run_cli("backup", "verify", env=env)
    assert damaged.returncode == 1
    assert "postgres/base.tar.gz: checksum does not match the manifest" in damaged.stderr


def check_everything_answered_is_back(client: httpx.Client, world: Ledger) -> None:
    # sessions were not restored: everyone signs in again (and every account is there to sign in to)
    for user, email in world.emails.items():
        login = ok(client.post("/auth/login", json={"email": email, "password": PASSWORD}))
        world.tokens[user] = login.json()["access_token"]
    total = Decimal(0)
    for user in world.tokens:
        balance = Decimal(ok(client.get("/wallet", headers=world.auth(user))).json()["balance"])
        assert balance == world.balances[user], f"user {user}"
        entries = ok(client.get("/wallet/ledger?limit=100", headers=world.auth(user))).json()["items"]
        assert sum(Decimal(e["amount"]) for e in entries) == balance, f"user {user}'s ledger"
        total += balance
    assert total == sum(world.balances.values())
    for order, buyer in world.orders.items():
        ok(client.get(f"/orders/{order}", headers=world.auth(buyer)))
    for post, author in world.posts.items():
        assert ok(client.get(f"/posts/{post}", headers=world.auth(author))).json()["author_id"] == author
    following: dict[int, set[int]] = defaultdict(set)
    for follower, followee in world.follows:
        following[follower].add(followee)
    for user in world.tokens:
        found = ok(client.get(f"/users/{user}/following?limit=100", headers=world.auth(user))).json()["items"]
        assert {u["user_id"] for u in found} == following[user], f"user {user} follows"
        counts = ok(client.get(f"/users/{user}/follow-counts", headers=world.auth(user))).json()
        assert counts["following"] == len(following[user])
        expected = sorted(
            (p for p, author in world.posts.items() if author in following[user] or author == user), reverse=True
        )[:20]
        feed = ok(client.get("/feed?limit=20", headers=world.auth(user))).json()["items"]
        assert [item["id"] for item in feed] == expected, f"user {user}'s home feed"
