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

from polysocial.bootstrap import App
from polysocial.domain.analytics import PostView, last_hours
from polysocial.domain.commerce import InsufficientFunds, OutOfStock, SeatTaken
from polysocial.domain.consistency import BY_DATA_TYPE, ISOLATION, Operation
from polysocial.domain.errors import RateLimited
from polysocial.services import accounts, carts, commerce, posts, social
from polysocial.services.accounts import Registration
from polysocial.services.seeding import load_network
from polysocial.stores.documents.protocol import POSTS
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
        account = await accounts.prepare_account(self.app.passwords, registration, today=date.today())
        async with self.app.relational.transaction() as tx:
            user_id = await accounts.register(tx, account)
        self.users[name] = user_id
        return user_id

    async def run(self) -> list[Outcome]:
        app = self.app

        async def seed() -> str:
            network = synthetic_network(300, 10, 1_500, seed=42, products=20)
            loaded = await load_network(
                network, seed=42, password_hash=await app.passwords.hash(PASSWORD), relational=app.relational,
                graph=app.graph, documents=app.documents, step=lambda *_: None,
            )  # fmt: skip
            return f"{loaded.users} users, {loaded.follows} follows, {loaded.posts} posts, {loaded.comments} comments"

        async def sign_up() -> str:
            ids = [await self.sign_up(n) for n in ("Ada", "Bob", "Cy")]
            async with app.relational.transaction() as tx:
                profile = await tx.profile(ids[0])
            await app.relay.drain()
            missing = await app.graph.missing_users(ids)
            expect(profile is not None and not missing, "profile is not None and not missing")
            return f"users + user_profiles + outbox row in one transaction; relay made graph nodes {ids}"

        async def follow_post_comment() -> str:
            ada, bob, cy = (self.users[n] for n in ("Ada", "Bob", "Cy"))
            for a, b in ((ada, bob), (ada, cy), (bob, cy), (cy, bob)):
                await social.set_following(app.relational, app.graph, a, b, True)
            media = {"text": "Just deployed to production on Friday!",
                     "media": [{"url": "https://cdn.example.com/deploy.png", "kind": "image"}]}  # fmt: skip
            post = await posts.create(app.documents, POSTS, bob, media, {"mood": "brave"})
            comment = await posts.add_comment(app.documents, post["id"], ada, "Brave.")
            await app.relay.drain()
            self.post_id = post["id"]
            stored = await posts.live(app.documents, POSTS, post["id"])
            expect(
                stored["stats"]["comments"] == 1 and stored["latest_comments"][0]["id"] == comment["id"],
                'stored["stats"]["comments"] == 1 and stored["latest_comments"][0]["id"] == comment["id"]',
            )
            return f"4 follows (MERGE: twice is once); post {post['id']} with media and a field of its own; a comment"

        async def feed() -> str:
            ada = self.users["Ada"]
            page = await app.feeds.home(ada, before=None, limit=20)
            expect(
                page.items and page.items[0]["id"] == self.post_id, 'page.items and page.items[0]["id"] == self.post_id'
            )
            return f"Ada's home feed: {len(page.items)} posts, newest by {page.items[0]['author']['name']}"

        async def graph_queries() -> str:
            ada, bob, cy = (self.users[n] for n in ("Ada", "Bob", "Cy"))
            mutual = await app.graph.mutual_follows(ada, bob, after=0, limit=10)
            suggestions = await app.graph.suggestions(ada, limit=5)
            expect(cy in mutual, "cy in mutual")
            return f"mutual follows of Ada and Bob: {mutual}; suggestions for Ada: {[s.user_id for s in suggestions]}"

        async def trending() -> str:
            now = datetime.now(UTC)
            for viewer in self.users.values():
                app.analytics.record_view(PostView(self.post_id, viewer, now))
            await app.analytics.flush()
            start, end = last_hours(1, now)
            top = await app.timeseries.trending(start, end, limit=3)
            expect(top and top[0].post_id == self.post_id, "top and top[0].post_id == self.post_id")
            return f"views buffered, flushed in one batch; trending: {top[0].post_id} with {top[0].views} views"

        async def last_item() -> str:
            buyers = [self.users["Ada"], self.users["Bob"]]
            async with app.relational.transaction() as tx:
                for b in buyers:
                    await tx.deposit(b, Decimal("100.00"))
                item = await tx.create_product("The last one", Decimal("25.00"), 1)
            results = await asyncio.gather(
                *(commerce.run(app.relational, Operation.PLACE_ORDER, commerce.order_work(b, [(item.product_id, 1)]))
                  for b in buyers), return_exceptions=True,
            )  # fmt: skip
            orders = [r for r in results if not isinstance(r, BaseException)]
            refused = [r for r in results if isinstance(r, OutOfStock)]
            expect(len(orders) == 1 and len(refused) == 1, "len(orders) == 1 and len(refused) == 1")
            return f"two buyers, one item: 1 order, 1 clean 409 ({ISOLATION[Operation.PLACE_ORDER]} + row lock)"

        async def money_and_seats() -> str:
            ada, bob = self.users["Ada"], self.users["Bob"]
            after = await commerce.run(
                app.relational, Operation.TRANSFER, commerce.transfer_work(ada, bob, Decimal("30"))
            )
            try:
                await commerce.run(app.relational, Operation.TRANSFER, commerce.transfer_work(ada, bob, Decimal("1e5")))
                raise ScenarioFailed("an overdraft went through")
            except InsufficientFunds:
                pass
            event = await commerce.create_ticketed_event(
                app.relational, "Keynote", datetime(2027, 1, 15, tzinfo=UTC), 1
            )
            results = await asyncio.gather(
                *(commerce.run(app.relational, Operation.BOOK_SEAT, commerce.booking_work(event, 1, u))
                  for u in self.users.values()), return_exceptions=True,
            )  # fmt: skip
            booked = [r for r in results if not isinstance(r, BaseException)]
            expect(
                len(booked) == 1 and all(isinstance(r, SeatTaken) for r in results if isinstance(r, BaseException)),
                "len(booked) == 1 and all(isinstance(r, SeatTaken) for r in results if isinstance(r, BaseException))",
            )
            return (f"transfer of 30.00 (Ada has {after} left, an overdraft refused); seat race: 1 booking, "
                    f"{len(results) - 1} refused ({ISOLATION[Operation.BOOK_SEAT]}, retried on 40001)")  # fmt: skip

        async def cart() -> str:
            cy = self.users["Cy"]
            async with app.relational.transaction() as tx:
                product = await tx.create_product("Sticker", Decimal("2.50"), 100)
            await carts.change(app.relational, app.kv, cy, product.product_id, 3)
            await app.relay.drain()
            await app.kv.cart_put(cy, {}, ttl_s=1)  # what Redis looks like after losing the live cart
            await asyncio.sleep(1.1)
            expect(await app.kv.cart_get(cy) is None, "await app.kv.cart_get(cy) is None")
            rebuilt = await carts.view(app.relational, app.kv, cy)
            expect(rebuilt == {product.product_id: 3}, "rebuilt == {product.product_id: 3}")
            return "live cart (Redis HINCRBY) lost; rebuilt from its durable copy in PostgreSQL: 3 stickers"

        async def rate_limit() -> str:
            for _ in range(6):
                try:
                    await accounts.authenticate(app.relational, app.kv, app.passwords, "ada@demo.example", "wrong",
                                                "192.0.2.1")  # fmt: skip
                except RateLimited as exc:
                    return f"5 failed logins a minute per account, then 429 (retry in {exc.retry_after_s} s): GCRA"
                except Exception:  # noqa: S112 - a wrong password, as intended
                    continue
            raise ScenarioFailed("the sixth failed login was not limited")

        async def consistency() -> str:
            return f"{len(BY_DATA_TYPE)} kinds of data, each with its own guarantees (below)"

        await self.step("seed a small network", "all (bulk)", seed)
        await self.step("sign-up, ACID", "PostgreSQL -> outbox -> graph", sign_up)
        await self.step("follow, post with media, comment", "graph, documents", follow_post_comment)
        await self.step("home feed", "Redis timelines, documents", feed)
        await self.step("suggestions and mutual follows", "graph", graph_queries)
        await self.step("trending", "time series", trending)
        await self.step("the last-item race", "PostgreSQL", last_item)
        await self.step("a transfer and a seat-booking race", "PostgreSQL", money_and_seats)
        await self.step("a cart that survives losing Redis", "Redis + PostgreSQL", cart)
        await self.step("rate limiting", "Redis", rate_limit)
        await self.step("consistency per data type", "-", consistency)
        return self.outcomes
