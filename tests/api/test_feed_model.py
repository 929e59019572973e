"""Model-based test of the home feed: random sequences of posts, follows, unfollows, deletes and reads across 200
users, with the timelines' Redis keys wiped in the middle. After the relay has delivered, every feed read, paged
with a random page size, must equal a reference computed from the model: the posts of the reader's current
followees plus their own, newest first.

The celebrity threshold is lowered to 8 followers, so that skewed popularity makes some authors celebrities (their
posts merged at read time) during the run, and some become celebrities mid-run.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import pytest
from pydantic import SecretStr

from polysocial.bootstrap import App
from polysocial.config import Role, Settings
from polysocial.domain.accounts import NewAccount
from polysocial.engines.redis_cluster import RedisClusterNodes

USERS = 200
INITIAL_FOLLOWS_EACH = 3
STEPS = 500
CELEBRITY = 8


@dataclass
class Model:
    follows: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    posts: list[tuple[str, int]] = field(default_factory=list)  # (id, author), oldest first
    deleted: set[str] = field(default_factory=set)

    def feed(self, reader: int) -> list[str]:
        authors = self.follows[reader] | {reader}
        return [pid for pid, author in reversed(self.posts) if author in authors and pid not in self.deleted]


@pytest.fixture(
    params=[
        "embedded",
        "postgres-only",
        pytest.param("seed", marks=pytest.mark.seed_stack),
        "embedded-on-redis-cluster",
    ]
)
def app_settings(request: pytest.FixtureRequest) -> Settings:
    """Each profile; and the embedded profile with its key-value role (timelines, caches, sessions) on a Redis
    Cluster of 3 masters and 3 replicas, the graph staying on the embedded FalkorDB."""
    fixture = {"postgres-only": "postgres_only_settings", "seed": "seed_settings"}.get(
        request.param, "embedded_settings"
    )
    settings: Settings = request.getfixturevalue(fixture)
    settings = settings.model_copy(update={"feed_celebrity_followers": CELEBRITY})
    if request.param != "embedded-on-redis-cluster":
        return settings
    cluster: RedisClusterNodes = request.getfixturevalue("redis_cluster")
    graph = settings.store_url(Role.GRAPH).url
    return settings.model_copy(update={"keyvalue_url": SecretStr(cluster.url), "graph_url": SecretStr(graph)})


async def make_users(app: App) -> list[int]:
    password_hash = await app.passwords.hash("correct horse battery staple")
    users = []
    async with app.stores.relational.transaction() as tx:
        for i in range(USERS):
            account = NewAccount(f"model-{i}@example.com", password_hash, f"User {i}", date(1990, 1, 1))
            users.append(await tx.accounts.insert_account(account))
    await app.relay.drain(timeout_s=120)  # the user nodes
    return users


async def read_all(app: App, reader: int, rng: random.Random) -> list[str]:
    ids: list[str] = []
    before: str | None = None
    while True:
        limit = rng.randint(1, 30)
        page = await app.services.feeds.home(reader, before=before, limit=limit)
        assert page.degraded is None
        ids += [item["id"] for item in page.items]
        assert all(item["author"]["name"].startswith("User ") for item in page.items)
        if page.next_before is None:
            return ids
        before = page.next_before


async def wipe_redis(app: App) -> None:
    """What Redis restarted empty looks like to the feed: every key gone (the graph, which shares the server in
    `embedded`, is the graph role's and stays)."""
    if app.stores.timelines is not None:
        await app.stores.keyvalue.wipe()


@dataclass(frozen=True)
class World:
    users: list[int]
    popularity: list[float]  # weights: low ids are followed most


async def write(app: App, model: Model, world: World, rng: random.Random, action: str, user: int, step: int) -> None:
    """One random write through the services, mirrored in the model."""
    if action == "post":
        doc = await app.services.posts.create(user, {"text": f"step {step}", "media": []}, {})
        model.posts.append((doc["id"], user))
    elif action == "follow":
        followee = rng.choices(world.users, weights=world.popularity)[0]
        if followee != user:
            await app.services.social.follow(user, followee)
            model.follows[user].add(followee)
    elif action == "unfollow" and model.follows[user]:
        followee = rng.choice(sorted(model.follows[user]))
        await app.services.social.unfollow(user, followee)
        model.follows[user].discard(followee)
    elif action == "delete":
        mine = [pid for pid, author in model.posts if author == user and pid not in model.deleted]
        if mine:
            victim = rng.choice(mine)
            await app.services.posts.delete(victim, user)
            model.deleted.add(victim)


@pytest.mark.parametrize("seed", [1, 2])
async def test_every_feed_read_equals_the_reference(app: App, seed: int) -> None:
    rng = random.Random(seed)
    users = await make_users(app)
    model = Model()
    popularity = [1 / (rank + 1) for rank in range(USERS)]
    edges = set()
    for user in users:
        for followee in rng.choices(users, weights=popularity, k=INITIAL_FOLLOWS_EACH):
            if followee != user:
                edges.add((user, followee))
    await app.stores.graph.follow_many(sorted(edges))
    for follower, followee in edges:
        model.follows[follower].add(followee)

    reads = 0
    for step in range(STEPS):
        if step == STEPS // 2:
            await app.relay.drain(timeout_s=120)
            await wipe_redis(app)
        action = rng.choices(["post", "follow", "unfollow", "delete", "read"], weights=[35, 15, 10, 5, 35])[0]
        user = rng.choice(users)
        if action != "read":
            await write(app, model, World(users, popularity), rng, action, user, step)
        else:
            # Readers are drawn from those who follow someone, so that most reads have something to compare.
            reader = rng.choice([u for u in users if model.follows[u]] or users)
            await app.relay.drain(timeout_s=120)
            got = await read_all(app, reader, rng)
            assert got == model.feed(reader), f"seed {seed}, step {step}, reader {reader}"
            reads += 1

    # A final sweep: every user's feed, after everything has been delivered.
    await app.relay.drain(timeout_s=120)
    for reader in users:
        assert await read_all(app, reader, rng) == model.feed(reader), f"seed {seed}, final, reader {reader}"
    assert reads > STEPS // 4
    assert (await app.stores.relational.outbox_stats()).dead_letters == 0
    if app.services.feeds.timelines is not None:
        celebrities = await app.services.feeds.timelines.celebrities_among(users)
        assert celebrities, "the run should have made some celebrities"
        assert app.services.feeds.stats.rebuilds["home"] >= USERS  # everyone rebuilt after the wipe
