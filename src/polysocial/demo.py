"""`polysocial demo`: the seed's scenarios, one after the other, on engines started in a fresh data folder, each
checked and timed. Every scenario says what happened and in which store; a scenario that does not behave as the
seed says it should fails the demo (exit 1)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from polysocial.bootstrap import App
from polysocial.config import Role, StoreURL
from polysocial.domain.accounts import UserRole
from polysocial.domain.analytics import PostView
from polysocial.domain.consistency import BY_DATA_TYPE, ISOLATION, Operation
from polysocial.domain.errors import RateLimited, StoreUnavailable
from polysocial.domain.seats import SeatTaken
from polysocial.domain.shop import OutOfStock
from polysocial.domain.wallet import InsufficientFunds
from polysocial.services.accounts import Registration
from polysocial.synthetic import synthetic_network

PASSWORD = secrets.token_urlsafe(16)  # the demo's accounts live in a temporary folder; nobody signs in


class ScenarioFailed(Exception):
    """A scenario did not behave as the seed says it should."""


def expect(ok: object, what: str) -> None:
    if not ok:
        raise ScenarioFailed(f"expected {what}")


@dataclass
class Outcome:
    scenario: str
    stores: str
    what: str
    ms: float
    ok: bool


class Demo:
    def __init__(self, app: App) -> None:
        self.app = app
        self.outcomes: list[Outcome] = []
        self.users: dict[str, int] = {}
        self.post_id = ""

    async def step(self, scenario: str, stores: str, run: Callable[[], Awaitable[str]]) -> None:
        started = time.perf_counter()
        try:
            what, ok = await run(), True
        except Exception as exc:  # the demo reports it and goes on; the exit code says it failed
            what, ok = f"FAILED: {type(exc).__name__}: {exc}", False
        self.outcomes.append(Outcome(scenario, stores, what, (time.perf_counter() - started) * 1000, ok))

    async def sign_up(self, name: str) -> int:
        registration = Registration(f"{name.lower()}@demo.example", PASSWORD, name, date(1990, 1, 1))
        me = await self.app.services.accounts.register(registration)
        self.users[name] = me.user_id
        return me.user_id

    async def run(self) -> list[Outcome]:
        await self.step("seed a small network", "all (bulk)", self._seed)
        await self.step("sign-up, ACID", "PostgreSQL -> outbox -> graph", self._sign_up)
        await self.step("follow, post with media, comment", "graph, documents", self._follow_post_comment)
        await self.step("home feed", "Redis timelines, documents", self._feed)
        await self.step("suggestions and mutual follows", "graph", self._graph_queries)
        await self.step("trending", "time series", self._trending)
        await self.step("the last-item race", "PostgreSQL", self._last_item)
        await self.step("a transfer and a seat-booking race", "PostgreSQL", self._money_and_seats)
        await self.step("a cart that survives losing Redis", "Redis + PostgreSQL", self._cart)
        await self.step("rate limiting", "Redis", self._rate_limit)
        await self.step("consistency per data type", "-", self._consistency)
        return self.outcomes

    async def _seed(self) -> str:
        services = self.app.services
        network = synthetic_network(300, 10, 1_500, seed=42, products=20)
        loaded = await services.operations.load_network(network, seed=42, password=PASSWORD, step=lambda *_: None)
        return f"{loaded.users} users, {loaded.follows} follows, {loaded.posts} posts, {loaded.comments} comments"

    async def _sign_up(self) -> str:
        app, services = self.app, self.app.services
        ids = [await self.sign_up(n) for n in ("Ada", "Bob", "Cy")]
        profile = await services.accounts.profile(ids[0])
        await app.relay.drain()
        missing = await app.stores.graph.missing_users(ids)  # checked at the source, not through a service
        expect(profile.user_id == ids[0] and not missing, "profile.user_id == ids[0] and not missing")
        return f"users + user_profiles + outbox row in one transaction; relay made graph nodes {ids}"

    async def _follow_post_comment(self) -> str:
        app, services = self.app, self.app.services
        ada, bob, cy = (self.users[n] for n in ("Ada", "Bob", "Cy"))
        for a, b in ((ada, bob), (ada, cy), (bob, cy), (cy, bob)):
            await services.social.follow(a, b)
        media = {
            "text": "Just deployed to production on Friday!",
            "media": [{"url": "https://cdn.example.com/deploy.png", "kind": "image"}],
        }
        post = await services.posts.create(bob, media, {"mood": "brave"})
        comment = await services.posts.add_comment(post["id"], ada, "Brave.")
        await app.relay.drain()
        self.post_id = post["id"]
        stored = await services.posts.get_raw(post["id"])
        expect(
            stored["stats"]["comments"] == 1 and stored["latest_comments"][0]["id"] == comment["id"],
            'stored["stats"]["comments"] == 1 and stored["latest_comments"][0]["id"] == comment["id"]',
        )
        return f"4 follows (MERGE: twice is once); post {post['id']} with media and a field of its own; a comment"

    async def _feed(self) -> str:
        ada = self.users["Ada"]
        page = await self.app.services.feeds.home(ada, before=None, limit=20)
        expect(page.items and page.items[0]["id"] == self.post_id, 'page.items and page.items[0]["id"] == self.post_id')
        return f"Ada's home feed: {len(page.items)} posts, newest by {page.items[0]['author']['name']}"

    async def _graph_queries(self) -> str:
        services = self.app.services
        ada, bob, cy = (self.users[n] for n in ("Ada", "Bob", "Cy"))
        mutual = [u.user_id for u in (await services.social.mutuals(ada, bob, after=0, limit=10)).users]
        suggestions = await services.social.suggestions(ada, limit=5)
        expect(cy in mutual, "cy in mutual")
        return f"mutual follows of Ada and Bob: {mutual}; suggestions for Ada: {[s.user_id for s in suggestions]}"

    async def _trending(self) -> str:
        app, services = self.app, self.app.services
        now = datetime.now(UTC)
        for viewer in self.users.values():
            app.analytics_buffer.record_view(PostView(self.post_id, viewer, now))
        await app.analytics_buffer.flush()
        top = await services.analytics.trending(hours=1, limit=3)
        expect(top and top[0].post_id == self.post_id, "top and top[0].post_id == self.post_id")
        return f"views buffered, flushed in one batch; trending: {top[0].post_id} with {top[0].views} views"

    async def _last_item(self) -> str:
        services = self.app.services
        buyers = [self.users["Ada"], self.users["Bob"]]
        for b in buyers:
            await services.wallet.deposit(b, Decimal("100.00"))
        item = await services.shop.create_product("The last one", Decimal("25.00"), 1)
        results = await asyncio.gather(
            *(services.shop.place_order(b, [(item.product_id, 1)]) for b in buyers), return_exceptions=True
        )
        orders = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, OutOfStock)]
        expect(len(orders) == 1 and len(refused) == 1, "len(orders) == 1 and len(refused) == 1")
        return f"two buyers, one item: 1 order, 1 clean 409 ({ISOLATION[Operation.PLACE_ORDER]} + row lock)"

    async def _money_and_seats(self) -> str:
        services = self.app.services
        ada, bob = self.users["Ada"], self.users["Bob"]
        after = (await services.wallet.transfer(ada, bob, Decimal("30"))).body
        try:
            await services.wallet.transfer(ada, bob, Decimal("1e5"))
            raise ScenarioFailed("an overdraft went through")
        except InsufficientFunds:
            pass
        event = await services.seats.create_event("Keynote", datetime(2027, 1, 15, tzinfo=UTC), 1)
        results = await asyncio.gather(
            *(services.seats.book(u, event.ticketed_event_id, 1) for u in self.users.values()),
            return_exceptions=True,
        )
        booked = [r for r in results if not isinstance(r, BaseException)]
        expect(
            len(booked) == 1 and all(isinstance(r, SeatTaken) for r in results if isinstance(r, BaseException)),
            "len(booked) == 1 and all(isinstance(r, SeatTaken) for r in results if isinstance(r, BaseException))",
        )
        return (
            f"transfer of 30.00 (Ada has {after} left, an overdraft refused); seat race: 1 booking, "
            f"{len(results) - 1} refused ({ISOLATION[Operation.BOOK_SEAT]}, retried on 40001)"
        )

    async def _cart(self) -> str:
        app, services = self.app, self.app.services
        cy = self.users["Cy"]
        product = await services.shop.create_product("Sticker", Decimal("2.50"), 100)
        await services.carts.change(cy, product.product_id, 3)
        await app.relay.drain()
        # The fault injected: what Redis looks like after losing the live cart.
        await app.stores.keyvalue.cart_put(cy, {}, ttl_s=1)
        await asyncio.sleep(1.1)
        expect(await app.stores.keyvalue.cart_get(cy) is None, "await app.stores.keyvalue.cart_get(cy) is None")
        rebuilt = await services.carts.view(cy)
        expect(rebuilt == {product.product_id: 3}, "rebuilt == {product.product_id: 3}")
        return "live cart (Redis HINCRBY) lost; rebuilt from its durable copy in PostgreSQL: 3 stickers"

    async def _rate_limit(self) -> str:
        services = self.app.services
        for _ in range(6):
            try:
                await services.accounts.authenticate("ada@demo.example", "wrong", "192.0.2.1")
            except RateLimited as exc:
                return f"5 failed logins a minute per account, then 429 (retry in {exc.retry_after_s} s): GCRA"
            except Exception:  # noqa: S112 - a wrong password, as intended
                continue
        raise ScenarioFailed("the sixth failed login was not limited")

    async def _consistency(self) -> str:
        return f"{len(BY_DATA_TYPE)} kinds of data, each with its own guarantees (below)"


async def ap_sessions(workdir: Path) -> Outcome:
    """The article's CAP example on a real Cassandra cluster: three nodes, replication factor 3, one SIGKILLed.
    Sign-in at ONE and logout at QUORUM keep working; a read at ALL (every replica) cannot. About 40 s (three JVMs
    start), so `polysocial demo` runs it only where the seed stack's Cassandra is built."""
    from polysocial.engines.cassandra import CassandraCluster
    from polysocial.services.sessions import SessionPolicy, Sessions
    from polysocial.stores.sessions.cassandra import CassandraSessionStore

    started = time.perf_counter()
    cluster = CassandraCluster(workdir, 3)
    store: CassandraSessionStore | None = None
    try:
        await asyncio.to_thread(cluster.start)
        url = cluster.url.rsplit("/", 1)[0] + "/demo?replication_factor=3"
        store = CassandraSessionStore(StoreURL(Role.SESSIONS, url))
        await store.open()
        sessions = Sessions(store, SessionPolicy(), backup=None)
        first = await sessions.open(1, UserRole.USER)
        await asyncio.to_thread(cluster.nodes[2].kill)
        t = time.perf_counter()
        second = await sessions.open(1, UserRole.USER)
        sign_in_ms = (time.perf_counter() - t) * 1000
        expect(await sessions.resolve(second) is not None, "the new session to be read back with a node down")
        await sessions.close(first)
        expect(await sessions.resolve(first) is None, "the revoked session to be refused with a node down")
        try:
            await store.execute("SELECT token_hash FROM demo.user_sessions LIMIT 1", level="ALL")
            all_says = "answered (unexpected)"
        except StoreUnavailable as exc:
            all_says = "refused: " + (type(exc.__cause__).__name__ if exc.__cause__ else exc.reason)
        expect(all_says.startswith("refused"), "a read at ALL to fail with a replica down")
        what = (
            f"3 nodes, RF 3, one SIGKILLed: sign-in at ONE ({sign_in_ms:.0f} ms) and a session check (ONE + "
            f"QUORUM) work, logout at QUORUM is seen everywhere; a read at ALL is {all_says}"
        )
        ok = True
    except Exception as exc:  # the demo reports it and goes on; the exit code says it failed
        what, ok = f"FAILED: {type(exc).__name__}: {exc}", False
    finally:
        if store is not None:
            await store.close()
        await asyncio.to_thread(cluster.stop)
    ms = (time.perf_counter() - started) * 1000
    return Outcome("sessions on an AP store (the article's CAP example)", "Cassandra x3", what, ms, ok)
