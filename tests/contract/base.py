"""Contract tests: one abstract class per store role, subclassed once per adapter and run on its real engine.

A subclass names the adapter it expects, the engine it should report, and how to reach it (``url`` fixture); the
inherited tests then hold every adapter of a role to the same answers. Later issues add their operations' contracts
to the role classes below, and every adapter inherits them.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

import pytest
import pytest_asyncio

from polysocial.config import Role, StoreURL
from polysocial.domain.accounts import EmailTaken, NewAccount, Session, TooYoung, UserRole
from polysocial.domain.analytics import Point
from polysocial.domain.errors import Conflict, StoreUnavailable
from polysocial.domain.events import Event, user_registered
from polysocial.domain.graph import GraphUser
from polysocial.domain.ids import new_id
from polysocial.domain.limits import RateLimit
from polysocial.stores.base import Store, timed_ping
from polysocial.stores.breaker import StoreOptions
from polysocial.stores.documents.protocol import ARTICLES, COMMENTS, POSTS, DocumentStore
from polysocial.stores.factory import (
    make_documents,
    make_graph,
    make_keyvalue,
    make_relational,
    make_sessions,
    make_timeseries,
)
from polysocial.stores.graph.protocol import GraphStore
from polysocial.stores.keyvalue.protocol import KeyValueStore
from polysocial.stores.postgres_pool import PostgresPools
from polysocial.stores.relational.protocol import RelationalStore
from polysocial.stores.sessions.protocol import SessionStore
from polysocial.stores.timeseries.protocol import TimeSeriesStore
from polysocial.synthetic import skewed_follow_graph
from tests.support.graphs import ReferenceGraph

BIG_USERS = 2_000
BIG_FOLLOWS_EACH = 20

SECRET = "hunter2-not-for-logs"


S = TypeVar("S", bound=Store)


class StoreContract(Generic[S]):
    """What every adapter of every role must do; a role's contract binds ``S`` to its protocol and says how to build
    an adapter of it (``build``) and how to write one item through the role's own verbs (``put_marker``)."""

    role: ClassVar[Role]
    adapter: ClassVar[type]
    engine: ClassVar[str]
    # Same scheme as the real URL, a closed port, and a password that must never appear in an error.
    unreachable_url: ClassVar[str]

    @pytest.fixture(scope="class")
    @classmethod
    def url(cls) -> str:
        raise NotImplementedError("each adapter's test class provides the url fixture")

    def build(self, url: str, pools: PostgresPools, *, timeout_s: float = 5.0) -> S:
        raise NotImplementedError("each role's contract builds its adapter")

    async def put_marker(self, store: S) -> None:
        raise NotImplementedError("each role's contract writes one item")

    @pytest.fixture
    async def store(self, url: str) -> AsyncIterator[S]:
        pools = PostgresPools(connect_timeout_s=5)
        store = self.build(url, pools)
        await store.open()
        await store.wipe()
        try:
            yield store
        finally:
            await store.close()
            await pools.close()

    async def test_factory_picks_this_adapter_for_the_url(self, store: S) -> None:
        assert type(store) is self.adapter
        assert store.role is self.role

    async def test_ping_round_trip(self, store: S) -> None:
        rtt_ms = await timed_ping(store)
        assert 0 < rtt_ms < 5_000

    async def test_a_burst_beyond_the_pool_waits_for_connections_instead_of_failing(self, store: S) -> None:
        # 300 at once: more than any pool here holds (redis-py's default pool refused the 101st with an error)
        await asyncio.gather(*(store.ping() for _ in range(300)))

    async def test_reports_engine_and_version(self, store: S) -> None:
        info = await store.engine_info()
        assert info.engine == self.engine
        assert re.match(r"v?\d+\.\d+", info.version), info.version

    async def test_close_twice_then_ping_says_unavailable(self, store: S) -> None:
        await store.close()
        await store.close()
        with pytest.raises(StoreUnavailable) as caught:
            await store.ping()
        assert caught.value.role == self.role.value

    async def test_unreachable_engine_gives_one_clear_line_without_the_password(self) -> None:
        pools = PostgresPools(connect_timeout_s=2)
        store = self.build(self.unreachable_url, pools, timeout_s=2)
        with pytest.raises(StoreUnavailable) as caught:
            await store.open()
        await store.close()
        await pools.close()
        message = str(caught.value)
        assert SECRET not in message
        assert "\n" not in message
        assert message.startswith(f"{self.role.value} store unreachable at ")
        assert "***" in message

    async def test_wipe_empties_the_store(self, store: S) -> None:
        await self.put_marker(store)
        assert await store.item_count() >= 1
        await store.wipe()
        assert await store.item_count() == 0


class RelationalContract(StoreContract[RelationalStore]):
    role = Role.RELATIONAL

    def build(self, url: str, pools: PostgresPools, *, timeout_s: float = 5.0) -> RelationalStore:
        return make_relational(StoreURL(self.role, url), pools, StoreOptions(connect_s=timeout_s))

    async def put_marker(self, store: RelationalStore) -> None:
        async with store.transaction() as tx:
            await tx.accounts.insert_account(account("marker@example.com"))

    async def test_an_account_is_a_user_and_a_profile_with_the_seed_get_user(self, store: RelationalStore) -> None:
        rel = store
        async with rel.transaction() as tx:
            user_id = await tx.accounts.insert_account(account("ada@example.com"))
        async with rel.transaction() as tx:
            profile = await tx.accounts.profile(user_id)
            me = await tx.accounts.me(user_id)
            credentials = await tx.accounts.credentials_by_email("ada@example.com")
        assert profile is not None
        assert (profile.name, profile.bio, profile.order_count) == ("Ada", "", 0)
        assert me is not None
        assert (me.email, me.role) == ("ada@example.com", UserRole.USER)
        assert credentials is not None
        assert credentials.user_id == user_id

    async def test_balances_read_together_are_each_user_s_own_and_current(self, store: RelationalStore) -> None:
        rel = store
        users = []
        for n in range(6):
            async with rel.transaction() as tx:
                user_id = await tx.accounts.insert_account(account(f"u{n}@example.com"))
                await tx.wallet.deposit(user_id, Decimal(n * 10 + 1))
            users.append(user_id)
        # Concurrent calls leave together (one batch) and each gets its own answer; an unknown user gets None.
        found = await asyncio.gather(*(rel.balance(u) for u in [*users, 10**9, users[0]]))
        assert found == [*(Decimal(n * 10 + 1) for n in range(6)), None, Decimal(1)]
        async with rel.transaction() as tx:
            await tx.wallet.deposit(users[2], Decimal("0.50"))
        assert await rel.balance(users[2]) == Decimal("21.50")  # a committed deposit is in the next read

    async def test_a_second_account_for_one_email_is_refused_whatever_its_case(self, store: RelationalStore) -> None:
        rel = store
        async with rel.transaction() as tx:
            await tx.accounts.insert_account(account("ada@example.com"))
        with pytest.raises(EmailTaken):
            async with rel.transaction() as tx:
                await tx.accounts.insert_account(account("ada@example.com"))
        async with rel.transaction() as tx:
            assert await tx.accounts.user_id_by_email("ada@example.com") is not None

    async def test_a_minor_is_refused_by_the_database(self, store: RelationalStore) -> None:
        rel = store
        with pytest.raises(TooYoung):
            async with rel.transaction() as tx:
                await tx.accounts.insert_account(
                    account("kid@example.com", birthdate=date.today() - timedelta(days=17 * 365))
                )

    async def test_a_rolled_back_transaction_leaves_neither_rows_nor_events(self, store: RelationalStore) -> None:
        rel = store

        async def sign_up_then_fail() -> None:
            async with rel.transaction() as tx:
                user_id = await tx.accounts.insert_account(account("ada@example.com"))
                await tx.outbox.add([user_registered(user_id, "Ada")])
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            await sign_up_then_fail()
        async with rel.transaction() as tx:
            assert await tx.accounts.user_id_by_email("ada@example.com") is None
        assert (await rel.outbox_stats()).pending == 0

    async def test_after_commit_callbacks_run_only_after_a_commit(self, store: RelationalStore) -> None:
        rel = store
        ran: list[str] = []

        async def note(label: str) -> None:
            ran.append(label)

        async def fail_after_registering() -> None:
            async with rel.transaction() as tx:
                tx.after_commit(lambda: note("rolled back"))
                raise RuntimeError

        async with rel.transaction() as tx:
            tx.after_commit(lambda: note("committed"))
        with pytest.raises(RuntimeError):
            await fail_after_registering()
        assert ran == ["committed"]

    async def test_the_outbox_hands_out_only_the_head_of_each_aggregate(self, store: RelationalStore) -> None:
        rel = store
        a1, a2, b1 = event("a", "1"), event("a", "2"), event("b", "1")
        async with rel.transaction() as tx:
            await tx.outbox.add([a1, a2, b1])
        async with rel.claim_outbox(10) as batch:
            assert [i.event.event_id for i in batch.events] == [a1.event_id, b1.event_id]
            await batch.done(batch.events)
        async with rel.claim_outbox(10) as batch:
            assert [i.event.event_id for i in batch.events] == [a2.event_id]
            assert batch.events[0].event.payload == a2.payload
            await batch.done(batch.events[:1])
        async with rel.claim_outbox(10) as batch:
            assert batch.events == []

    async def test_concurrent_relays_never_claim_the_same_event(self, store: RelationalStore) -> None:
        rel = store
        async with rel.transaction() as tx:
            await tx.outbox.add([event(str(i), "x") for i in range(20)])
        async with rel.claim_outbox(8) as first, rel.claim_outbox(8) as second:
            ids_first = {i.event.event_id for i in first.events}
            ids_second = {i.event.event_id for i in second.events}
        assert len(ids_first) == 8
        assert len(ids_second) == 8
        assert not ids_first & ids_second

    async def test_a_failed_event_waits_for_its_retry_then_goes_to_the_dead_letters(
        self, store: RelationalStore
    ) -> None:
        rel = store
        e = event("a", "1")
        async with rel.transaction() as tx:
            await tx.outbox.add([e])
        async with rel.claim_outbox(10) as batch:
            await batch.failed(batch.events[0], "handler exploded", retry_in_s=60)
        async with rel.claim_outbox(10) as batch:
            assert batch.events == []  # not due for a minute
        assert (await rel.outbox_stats()).pending == 1

        e2 = event("b", "1")
        async with rel.transaction() as tx:
            await tx.outbox.add([e2])
        async with rel.claim_outbox(10) as batch:
            (item,) = batch.events
            assert item.event.event_id == e2.event_id
            await batch.failed(item, "gave up", retry_in_s=None)
        stats = await rel.outbox_stats()
        assert (stats.pending, stats.dead_letters) == (1, 1)
        (dead,) = await rel.dead_letters()
        assert (dead.event.event_id, dead.error, dead.attempts) == (e2.event_id, "gave up", 1)

    async def test_processed_markers_are_per_handler(self, store: RelationalStore) -> None:
        rel = store
        e1, e2 = uuid.uuid4(), uuid.uuid4()
        await rel.mark_processed("graph", [e1])
        await rel.mark_processed("graph", [e1])  # idempotent
        assert await rel.processed("graph", [e1, e2]) == {e1}
        assert await rel.processed("feed", [e1, e2]) == set()

    async def test_a_commit_with_events_wakes_a_waiting_relay(self, store: RelationalStore) -> None:
        rel = store
        async with rel.wait_for_events() as wait:
            waiter = asyncio.ensure_future(wait(10))
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            async with rel.transaction() as tx:
                await tx.outbox.add([event("a", "1")])
            await asyncio.wait_for(waiter, 5)
        assert time.perf_counter() - started < 2

    async def test_outbox_lag_is_the_age_of_the_oldest_pending_event(self, store: RelationalStore) -> None:
        rel = store
        old = Event("a", "1", "Test", {}, created_at=datetime.now(UTC) - timedelta(seconds=30))
        async with rel.transaction() as tx:
            await tx.outbox.add([old, event("b", "1")])
        stats = await rel.outbox_stats()
        assert stats.pending == 2
        assert 29 < stats.oldest_age_s < 120


class DocumentContract(StoreContract[DocumentStore]):
    role = Role.DOCUMENTS

    def build(self, url: str, pools: PostgresPools, *, timeout_s: float = 5.0) -> DocumentStore:
        return make_documents(StoreURL(self.role, url), pools, StoreOptions(connect_s=timeout_s))

    async def put_marker(self, store: DocumentStore) -> None:
        await store.insert(POSTS, new_id(), {"text": "marker"})

    collections: ClassVar[list[str]] = ["contract_docs"]

    async def test_a_document_round_trips_with_fields_the_code_does_not_know(self, store: DocumentStore) -> None:
        docs = store
        await docs.insert("contract_docs", "d1", {"text": "hi", "extra": {"nested": [1, 2]}}, [event("doc", "d1")])
        assert await docs.get("contract_docs", "d1") == {"id": "d1", "text": "hi", "extra": {"nested": [1, 2]}}
        assert await docs.get("contract_docs", "missing") is None
        with pytest.raises(Conflict):
            await docs.insert("contract_docs", "d1", {"text": "again"})

    async def test_events_ride_in_the_document_and_go_out_in_order(self, store: DocumentStore) -> None:
        docs = store
        first, second, third = event("doc", "d1"), event("doc", "d1"), event("doc", "d1")
        await docs.insert("contract_docs", "d1", {"text": "v1"}, [first])
        assert await docs.update("contract_docs", "d1", {"text": "v2"}, [second, third])
        assert not await docs.update("contract_docs", "nope", {"text": "v2"}, [event("doc", "nope")])
        assert (await docs.get("contract_docs", "d1") or {})["text"] == "v2"
        assert await docs.pending_count(self.collections) == 3

        (claimed,) = await docs.claim_pending(self.collections, limit=10, lease_s=30)
        assert [e.event_id for e in claimed.events] == [first.event_id, second.event_id, third.event_id]
        assert claimed.events[1].payload == second.payload
        assert claimed.attempts == [0, 0, 0]
        assert await docs.claim_pending(self.collections, limit=10, lease_s=30) == []  # leased

        assert not await docs.ack("contract_docs", "d1", second.event_id)  # not the head
        assert await docs.ack("contract_docs", "d1", first.event_id)
        assert not await docs.ack("contract_docs", "d1", first.event_id)  # already gone
        await docs.release("contract_docs", "d1")
        (again,) = await docs.claim_pending(self.collections, limit=10, lease_s=30)
        assert [e.event_id for e in again.events] == [second.event_id, third.event_id]
        assert await docs.ack("contract_docs", "d1", second.event_id)
        assert await docs.ack("contract_docs", "d1", third.event_id)
        await docs.release("contract_docs", "d1")
        assert await docs.claim_pending(self.collections, limit=10, lease_s=30) == []
        assert await docs.pending_count(self.collections) == 0
        assert await docs.get("contract_docs", "d1") == {"id": "d1", "text": "v2"}

    async def test_a_failed_delivery_counts_and_waits_out_its_backoff(self, store: DocumentStore) -> None:
        docs = store
        e = event("doc", "d1")
        await docs.insert("contract_docs", "d1", {"text": "x"}, [e])
        await docs.claim_pending(self.collections, limit=10, lease_s=30)
        await docs.retry_later("contract_docs", "d1", e.event_id, delay_s=0.5)
        assert await docs.claim_pending(self.collections, limit=10, lease_s=30) == []
        await asyncio.sleep(0.7)
        (claimed,) = await docs.claim_pending(self.collections, limit=10, lease_s=30)
        assert claimed.attempts == [1]

    async def test_concurrent_relays_lease_different_documents(self, store: DocumentStore) -> None:
        docs = store
        for i in range(10):
            await docs.insert("contract_docs", f"d{i}", {"n": i}, [event("doc", f"d{i}")])
        first, second = await asyncio.gather(
            docs.claim_pending(self.collections, limit=5, lease_s=30),
            docs.claim_pending(self.collections, limit=5, lease_s=30),
        )
        ids = [p.doc_id for p in first] + [p.doc_id for p in second]
        assert len(ids) == 10
        assert len(set(ids)) == 10


class DocumentOperationsContract(DocumentContract):
    """The atomic single-document operations posts are made of, on every document adapter."""

    async def test_pages_of_matching_documents_come_newest_first(self, store: DocumentStore) -> None:
        docs = store
        ids = [new_id() for _ in range(5)]
        for i, doc_id in enumerate(ids):
            await docs.insert(POSTS, doc_id, {"author_id": 1 if i % 2 == 0 else 2, "deleted": False, "n": i})
        await docs.update(POSTS, ids[4], {"deleted": True})
        first = await docs.find_page(POSTS, equals={"author_id": 1, "deleted": False}, before_id=None, limit=1)
        assert [d["n"] for d in first] == [2]
        rest = await docs.find_page(POSTS, equals={"author_id": 1, "deleted": False}, before_id=first[0]["id"], limit=5)
        assert [d["n"] for d in rest] == [0]
        assert all("_outbox" not in d for d in first + rest)

    async def test_a_full_pass_reads_every_document_once_in_pages(self, store: DocumentStore) -> None:
        ids = {new_id() for _ in range(5)}
        await store.bulk_insert(COMMENTS, [{"id": i, "post_id": "p"} for i in ids])
        pages = [page async for page in store.iter_pages(COMMENTS, batch_size=2)]
        assert [len(page) for page in pages] == [2, 2, 1]
        assert sorted(d["id"] for page in pages for d in page) == sorted(ids)
        assert all("_outbox" not in d for page in pages for d in page)

    async def test_documents_are_counted_by_a_fields_value(self, store: DocumentStore) -> None:
        a, b, c = new_id(), new_id(), new_id()
        await store.bulk_insert(
            COMMENTS, [{"id": new_id(), "post_id": post} for post in (a, a, a, b)] + [{"id": new_id(), "post_id": "x"}]
        )
        assert await store.count_by(COMMENTS, field="post_id", values=[a, b, c]) == {a: 3, b: 1}
        assert await store.count_by(COMMENTS, field="post_id", values=[]) == {}
        assert await store.count_all_by(COMMENTS, field="post_id") == {a: 3, b: 1, "x": 1}

    async def test_the_feed_query_finds_posts_of_any_of_some_authors_newest_first(self, store: DocumentStore) -> None:
        docs = store
        rows: list[dict[str, Any]] = [{"id": new_id(), "author_id": i % 5, "deleted": False, "n": i} for i in range(30)]
        await docs.bulk_insert(POSTS, rows[:20])
        for row in rows[20:]:
            await docs.insert(POSTS, row["id"], {k: v for k, v in row.items() if k != "id"})
        await docs.update(POSTS, rows[28]["id"], {"deleted": True})
        expected = [r["n"] for r in reversed(rows) if r["author_id"] in (1, 3) and r["n"] != 28]
        first = await docs.find_any(
            POSTS, field="author_id", values=[1, 3], equals={"deleted": False}, before_id=None, limit=5
        )
        rest = await docs.find_any(
            POSTS, field="author_id", values=[1, 3], equals={"deleted": False}, before_id=first[-1]["id"], limit=50
        )
        assert [d["n"] for d in first + rest] == expected
        assert await docs.pending_count([POSTS]) == 0  # bulk rows carry no events

    async def test_a_unique_slug_is_found_and_cannot_be_taken_twice(self, store: DocumentStore) -> None:
        docs = store
        await docs.insert(ARTICLES, new_id(), {"slug": "database-design-patterns", "title": "DDP"})
        found = await docs.find_one(ARTICLES, {"slug": "database-design-patterns"})
        assert found is not None
        assert found["title"] == "DDP"
        assert await docs.find_one(ARTICLES, {"slug": "nope"}) is None
        with pytest.raises(Conflict):
            await docs.insert(ARTICLES, new_id(), {"slug": "database-design-patterns", "title": "again"})

    async def test_push_capped_keeps_the_latest_and_counts_all(self, store: DocumentStore) -> None:
        docs = store
        await docs.insert(POSTS, "p1", {"stats": {"comments": 0}, "latest": []})
        for i in range(25):
            assert await docs.push_capped(
                POSTS,
                "p1",
                field="latest",
                item={"n": i},
                keep_last=20,
                counter="stats.comments",
                events=[event("p1", str(i))],
            )
        post = await docs.get(POSTS, "p1")
        assert post is not None
        assert [c["n"] for c in post["latest"]] == list(range(5, 25))
        assert post["stats"]["comments"] == 25
        assert await docs.pending_count([POSTS]) == 25
        assert not await docs.push_capped(POSTS, "nope", field="latest", item={}, keep_last=20, counter="stats.c")

    async def test_a_member_is_added_once_and_the_counter_follows(self, store: DocumentStore) -> None:
        docs = store
        await docs.insert(POSTS, "p1", {"stats": {"likes": 0}, "likers": []})
        assert await docs.add_member(POSTS, "p1", field="likers", member=7, counter="stats.likes")
        assert not await docs.add_member(POSTS, "p1", field="likers", member=7, counter="stats.likes")
        assert (await docs.get(POSTS, "p1") or {})["stats"]["likes"] == 1
        assert await docs.remove_member(POSTS, "p1", field="likers", member=7, counter="stats.likes")
        assert not await docs.remove_member(POSTS, "p1", field="likers", member=7, counter="stats.likes")
        post = await docs.get(POSTS, "p1")
        assert post is not None
        assert (post["stats"]["likes"], post["likers"]) == (0, [])

    async def test_many_documents_come_in_one_call_and_members_are_found_among_them(self, store: DocumentStore) -> None:
        docs = store
        ids = [new_id() for _ in range(4)]
        for i, doc_id in enumerate(ids):
            await docs.insert(POSTS, doc_id, {"n": i, "likers": [7, 9] if i % 2 else [9]}, [event(doc_id, "x")])
        found = await docs.get_many(POSTS, [ids[3], "nope", ids[0]])
        assert sorted(found) == sorted([ids[0], ids[3]])
        assert found[ids[3]]["n"] == 3
        assert all("_outbox" not in d and d["id"] == k for k, d in found.items())
        assert await docs.having_member(POSTS, ids, field="likers", member=7) == {ids[1], ids[3]}
        assert await docs.having_member(POSTS, ids[:1], field="likers", member=9) == {ids[0]}
        assert await docs.having_member(POSTS, ids, field="likers", member=8) == set()
        assert await docs.get_many(POSTS, []) == {}
        assert await docs.having_member(POSTS, [], field="likers", member=7) == set()

    async def test_concurrent_adds_and_pushes_are_exact(self, store: DocumentStore) -> None:
        docs = store
        await docs.insert(POSTS, "hot", {"stats": {"likes": 0, "comments": 0}, "likers": [], "latest": []})
        await asyncio.gather(
            *(docs.add_member(POSTS, "hot", field="likers", member=u, counter="stats.likes") for u in range(100)),
            *(docs.add_member(POSTS, "hot", field="likers", member=u, counter="stats.likes") for u in range(20)),
            *(
                docs.push_capped(POSTS, "hot", field="latest", item={"n": i}, keep_last=20, counter="stats.comments")
                for i in range(50)
            ),
        )
        post = await docs.get(POSTS, "hot")
        assert post is not None
        assert post["stats"]["likes"] == 100
        assert sorted(post["likers"]) == list(range(100))
        assert post["stats"]["comments"] == 50
        assert len(post["latest"]) == 20

    async def test_an_erasure_strips_pulls_and_deletes_exactly_what_it_names(self, store: DocumentStore) -> None:
        docs = store
        mine = {"id": "c1", "author_id": 7, "text": "mine"}
        theirs = {"id": "c2", "author_id": 8, "text": "theirs"}
        await docs.insert(
            POSTS,
            "p1",
            {"author_id": 7, "text": "secret", "extra": {"x": 1}, "stats": {"comments": 3}, "latest": [mine, theirs]},
            [event("p1", "created")],
        )
        await docs.insert(POSTS, "p2", {"author_id": 8, "likers": [7, 9], "stats": {"likes": 2}})
        await docs.insert(POSTS, "p3", {"author_id": 8, "likers": [9], "stats": {"likes": 1}})
        assert await docs.strip(
            POSTS, "p1", keep=["author_id"], fields={"deleted": True}, events=[event("p1", "deleted")]
        )
        assert await docs.get(POSTS, "p1") == {"id": "p1", "author_id": 7, "deleted": True}
        claimed = await docs.claim_pending([POSTS], limit=10, lease_s=30)
        assert [e.payload["tag"] for d in claimed for e in d.events] == ["created", "deleted"]  # both kept, in order
        assert not await docs.strip(POSTS, "nope", keep=[], fields={"deleted": True})

        await docs.insert(POSTS, "p4", {"stats": {"comments": 3}, "latest": [mine, theirs, mine | {"id": "c3"}]})
        assert await docs.pull_items(
            POSTS, "p4", field="latest", items=[mine, mine | {"id": "c3"}], counter="stats.comments", delta=-2
        )
        pulled = await docs.get(POSTS, "p4")
        assert pulled is not None
        assert (pulled["latest"], pulled["stats"]["comments"]) == ([theirs], 1)
        assert not await docs.pull_items(POSTS, "nope", field="latest", items=[mine], counter="stats.c", delta=-1)

        assert await docs.ids_having_member(POSTS, field="likers", member=9, after_id=None, limit=10) == ["p2", "p3"]
        assert await docs.ids_having_member(POSTS, field="likers", member=9, after_id="p2", limit=10) == ["p3"]
        assert await docs.ids_having_member(POSTS, field="likers", member=7, after_id=None, limit=1) == ["p2"]
        assert await docs.ids_having_member(POSTS, field="likers", member=5, after_id=None, limit=10) == []

        for i, (post, author) in enumerate([("p2", 7), ("p2", 7), ("p2", 8), ("p3", 7)]):
            await docs.insert(COMMENTS, f"k{i}", {"post_id": post, "author_id": author})
        assert await docs.delete_where(COMMENTS, {"post_id": "p2", "author_id": 7}) == 2
        assert await docs.delete_where(COMMENTS, {"post_id": "p2", "author_id": 7}) == 0
        left = await docs.find_page(COMMENTS, equals={}, before_id=None, limit=10)
        assert sorted(c["id"] for c in left) == ["k2", "k3"]

    async def test_pending_before_counts_documents_whose_oldest_event_is_older(self, store: DocumentStore) -> None:
        docs = store
        old = Event("test", "a", "Tested", {}, created_at=datetime.now(UTC) - timedelta(seconds=60))
        new = Event("test", "b", "Tested", {}, created_at=datetime.now(UTC) + timedelta(seconds=60))
        await docs.insert(POSTS, "a", {"n": 1}, [old])
        await docs.insert(POSTS, "b", {"n": 2}, [new])
        await docs.insert(ARTICLES, "c", {"n": 3}, [event("c", "now")])
        now = datetime.now(UTC)
        assert await docs.pending_before([POSTS], now) == 1
        assert await docs.pending_before([POSTS, ARTICLES], now + timedelta(seconds=1)) == 2
        assert await docs.pending_before([POSTS, ARTICLES], now + timedelta(seconds=120)) == 3
        [claimed] = [d for d in await docs.claim_pending([POSTS], limit=10, lease_s=30) if d.doc_id == "a"]
        assert await docs.ack(POSTS, "a", claimed.events[0].event_id)
        assert await docs.pending_before([POSTS], now) == 0


class GraphContract(StoreContract[GraphStore]):
    role = Role.GRAPH

    def build(self, url: str, pools: PostgresPools, *, timeout_s: float = 5.0) -> GraphStore:
        return make_graph(StoreURL(self.role, url), pools, StoreOptions(connect_s=timeout_s))

    async def put_marker(self, store: GraphStore) -> None:
        await store.upsert_users([GraphUser(1, "marker")])

    async def test_upserting_a_user_twice_makes_one_node_with_the_latest_name(self, store: GraphStore) -> None:
        graph = store
        await graph.upsert_users([GraphUser(1, "Ada"), GraphUser(2, "Bob")])
        await graph.upsert_users([GraphUser(1, "Ada L."), GraphUser(1, "Ada Lovelace")])
        assert await graph.count_users() == 2
        assert await graph.duplicate_user_ids() == []
        assert await graph.missing_users([3, 1, 2, 4]) == [3, 4]

    async def test_concurrent_upserts_of_one_user_make_one_node(self, store: GraphStore) -> None:
        graph = store
        await asyncio.gather(*(graph.upsert_users([GraphUser(7, f"n{i}")]) for i in range(10)))
        assert await graph.count_users() == 1
        assert await graph.duplicate_user_ids() == []


class FollowGraphContract(GraphContract):
    """Follows and the queries over them: small graphs with known answers first."""

    async def test_following_twice_makes_one_edge_and_unfollowing_removes_it(self, store: GraphStore) -> None:
        graph = store
        await graph.follow_many([(1, 2), (1, 2)])
        await graph.follow_many([(1, 2)])
        assert await graph.follows(1, 2)
        assert not await graph.follows(2, 1)
        assert await graph.follow_counts(2) == (1, 0)
        assert await graph.follow_counts(1) == (0, 1)
        await graph.unfollow_many([(1, 2), (1, 2)])
        assert not await graph.follows(1, 2)
        assert await graph.follow_counts(2) == (0, 0)
        assert await graph.duplicate_user_ids() == []

    async def test_erasing_a_user_takes_the_node_and_every_edge_and_twice_is_once(self, store: GraphStore) -> None:
        graph = store
        await graph.upsert_users([GraphUser(1, "Ada"), GraphUser(2, "Bob"), GraphUser(3, "Cy")])
        await graph.follow_many([(1, 2), (2, 1), (3, 2), (1, 3)])
        await graph.erase_user(2)
        await graph.erase_user(2)
        assert await graph.missing_users([1, 2, 3]) == [2]
        assert await graph.follow_counts(1) == (0, 1)
        assert await graph.followers(3, after=0, limit=10) == [1]
        assert await graph.following(3, after=0, limit=10) == []
        assert await graph.count_users() == 2
        await graph.erase_user(99)  # no such user: nothing to do

    async def test_lists_are_paged_by_id(self, store: GraphStore) -> None:
        graph = store
        await graph.follow_many([(f, 100) for f in range(1, 26)] + [(100, f) for f in range(30, 35)])
        first = await graph.followers(100, after=0, limit=10)
        second = await graph.followers(100, after=first[-1], limit=10)
        third = await graph.followers(100, after=second[-1], limit=10)
        assert first + second + third == list(range(1, 26))
        assert await graph.following(100, after=31, limit=10) == [32, 33, 34]
        assert sorted(await graph.follower_ids(100)) == list(range(1, 26))
        assert await graph.follower_ids(999) == []

    async def test_mutuals_suggestions_hops_and_paths_on_a_known_graph(self, store: GraphStore) -> None:
        graph = store
        # 1 follows 2 and 3; 2 and 3 both follow 4; 3 follows 5; 4 follows 6; 6 follows 7.
        await graph.follow_many([(1, 2), (1, 3), (2, 4), (3, 4), (3, 5), (4, 6), (6, 7), (5, 1)])
        assert await graph.mutual_follows(2, 3, after=0, limit=10) == [4]
        assert [(s.user_id, s.strength) for s in await graph.suggestions(1, limit=10)] == [(4, 2), (5, 1)]
        assert await graph.within_hops(1, hops=3, limit=10) == [(2, 1), (3, 1), (4, 2), (5, 2), (6, 3)]
        assert await graph.path_length(1, 7) == 4
        assert await graph.path_length(1, 7, max_hops=3) is None
        assert await graph.path_length(7, 1) is None
        assert await graph.path_length(5, 4) == 3
        assert await graph.path_length(3, 3) == 0

    async def test_suggestion_ties_break_by_id_and_exclude_me_and_whom_i_follow(self, store: GraphStore) -> None:
        graph = store
        await graph.follow_many([(1, 2), (1, 3), (2, 9), (3, 8), (2, 1), (2, 3), (3, 7)])
        assert [(s.user_id, s.strength) for s in await graph.suggestions(1, limit=10)] == [(7, 1), (8, 1), (9, 1)]

    async def test_answers_match_the_reference_on_a_generated_graph(
        self, big_graph: tuple[GraphStore, ReferenceGraph]
    ) -> None:
        graph, ref = big_graph
        rng = random.Random(7)
        sample = rng.sample(range(1, BIG_USERS + 1), 25)
        for user in sample:
            assert await graph.follow_counts(user) == ref.counts(user), user
            assert await graph.followers(user, after=0, limit=50) == ref.followers(user, 0, 50)
            assert sorted(await graph.follower_ids(user)) == ref.followers(user, 0, BIG_USERS)
            assert await graph.following(user, after=5, limit=50) == ref.following(user, 5, 50)
            expected = ref.suggestions(user, 10)
            assert [(s.user_id, s.strength) for s in await graph.suggestions(user, limit=10)] == expected, user
            other = rng.randrange(1, BIG_USERS + 1)
            assert await graph.mutual_follows(user, other, after=0, limit=20) == ref.mutuals(user, other, 0, 20)
            assert await graph.within_hops(user, hops=3, limit=40) == ref.within_hops(user, 3, 40)
            assert await graph.path_length(user, other) == ref.path_length(user, other, 6)

    @pytest_asyncio.fixture(scope="class", loop_scope="session")
    @classmethod
    async def big_graph(cls, url: str) -> AsyncIterator[tuple[GraphStore, ReferenceGraph]]:
        """2,000 users, 40,000 follows with skewed popularity, loaded once per adapter."""
        pools = PostgresPools(connect_timeout_s=5)
        store = graph = make_graph(StoreURL(cls.role, url), pools)
        await store.open()
        await store.wipe()
        edges = skewed_follow_graph(BIG_USERS, BIG_FOLLOWS_EACH, seed=2026)
        users = [GraphUser(i, f"user {i}") for i in range(1, BIG_USERS + 1)]
        await graph.bulk_load(users[: BIG_USERS // 2], [])  # bulk_load's nodes, then follow_many's MERGE on top
        await graph.bulk_load(users[BIG_USERS // 2 :], edges[: len(edges) // 2])
        for start in range(len(edges) // 2, len(edges), 5000):
            await graph.follow_many(edges[start : start + 5000])
        try:
            yield graph, ReferenceGraph.of(edges)
        finally:
            await store.wipe()
            await store.close()
            await pools.close()


class KeyValueContract(StoreContract[KeyValueStore]):
    role = Role.KEYVALUE

    def build(self, url: str, pools: PostgresPools, *, timeout_s: float = 5.0) -> KeyValueStore:
        return make_keyvalue(StoreURL(self.role, url), pools, StoreOptions(connect_s=timeout_s))

    async def put_marker(self, store: KeyValueStore) -> None:
        await store.cache_set("marker", b"1", ttl_s=60, generation=await store.cache_generation("marker"))

    async def test_the_rate_limit_allows_a_burst_then_refuses_with_a_retry_time(self, store: KeyValueStore) -> None:
        keyvalue = store
        rule = RateLimit(limit=5, period_s=60)
        peek = await keyvalue.rate_limit("login:a", rule, cost=0)
        assert (peek.allowed, peek.remaining) == (True, 5)
        decisions = [await keyvalue.rate_limit("login:a", rule) for _ in range(6)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False]
        assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
        assert 11 < decisions[5].retry_after_s <= 12
        assert not (await keyvalue.rate_limit("login:a", rule, cost=0)).allowed
        assert (await keyvalue.rate_limit("login:b", rule)).allowed  # keys are independent

    async def test_a_peek_does_not_spend_the_limit(self, store: KeyValueStore) -> None:
        keyvalue = store
        rule = RateLimit(limit=2, period_s=60)
        for _ in range(5):
            assert (await keyvalue.rate_limit("peek", rule, cost=0)).allowed
        assert [(await keyvalue.rate_limit("peek", rule)).allowed for _ in range(3)] == [True, True, False]

    async def test_the_rate_limit_is_exact_under_concurrency(self, store: KeyValueStore) -> None:
        keyvalue = store
        rule = RateLimit(limit=5, period_s=60)
        decisions = await asyncio.gather(*(keyvalue.rate_limit("race", rule) for _ in range(30)))
        assert sum(d.allowed for d in decisions) == 5

    async def test_the_limit_frees_up_one_request_per_interval(self, store: KeyValueStore) -> None:
        keyvalue = store
        rule = RateLimit(limit=2, period_s=1)  # one request back every 0.5 s
        assert [(await keyvalue.rate_limit("refill", rule)).allowed for _ in range(3)] == [True, True, False]
        await asyncio.sleep(0.6)
        assert (await keyvalue.rate_limit("refill", rule)).allowed
        assert not (await keyvalue.rate_limit("refill", rule)).allowed

    async def test_a_cache_value_computed_before_an_invalidation_is_not_stored(self, store: KeyValueStore) -> None:
        keyvalue = store
        generation = await keyvalue.cache_generation("profile:1")
        assert await keyvalue.cache_set("profile:1", b"v1", ttl_s=60, generation=generation)
        assert await keyvalue.cache_get("profile:1") == b"v1"
        stale_generation = await keyvalue.cache_generation("profile:1")
        await keyvalue.cache_invalidate("profile:1")
        assert await keyvalue.cache_get("profile:1") is None
        assert not await keyvalue.cache_set("profile:1", b"stale", ttl_s=60, generation=stale_generation)
        assert await keyvalue.cache_get("profile:1") is None
        fresh = await keyvalue.cache_generation("profile:1")
        assert fresh != stale_generation
        assert await keyvalue.cache_set("profile:1", b"v2", ttl_s=60, generation=fresh)
        assert await keyvalue.cache_get("profile:1") == b"v2"

    async def test_a_cache_value_expires(self, store: KeyValueStore) -> None:
        keyvalue = store
        assert await keyvalue.cache_set("short", b"x", ttl_s=1, generation=await keyvalue.cache_generation("short"))
        await asyncio.sleep(1.2)
        assert await keyvalue.cache_get("short") is None

    async def test_a_live_cart_exists_until_dropped_and_changes_only_while_it_exists(
        self, store: KeyValueStore
    ) -> None:
        kv = store
        assert await kv.cart_add(5, 1, 2, ttl_s=60) is None  # no live cart: nothing is added
        assert await kv.cart_get(5) is None
        await kv.cart_put(5, {1: 2, 2: 0}, ttl_s=60)
        assert await kv.cart_get(5) == {1: 2}
        assert await kv.cart_add(5, 1, 3, ttl_s=60) == 5
        await kv.cart_set_line(5, 1, 0)
        assert await kv.cart_get(5) == {}  # empty, but live
        await kv.cart_put(6, {3: 1}, ttl_s=60)
        await kv.cart_drop(5)
        await kv.cart_drop(5)
        assert await kv.cart_get(5) is None
        assert await kv.cart_get(6) == {3: 1}

    async def test_a_write_position_is_kept_for_its_lifetime(self, store: KeyValueStore) -> None:
        kv = store
        assert await kv.position_get(7) is None
        await kv.position_put(7, "0/1A2B3C", ttl_s=60)
        await kv.position_put(8, "0/FF", ttl_s=0.05)
        await kv.position_put(7, "0/1A2B40", ttl_s=60)  # a later write moves it on
        assert await kv.position_get(7) == "0/1A2B40"
        await asyncio.sleep(0.2)
        assert await kv.position_get(8) is None

    async def test_a_lock_has_one_holder_until_released_or_expired(self, store: KeyValueStore) -> None:
        keyvalue = store
        token = await keyvalue.lock_acquire("rebuild:1", ttl_s=0.5)
        assert token is not None
        assert await keyvalue.lock_acquire("rebuild:1", ttl_s=0.5) is None
        await keyvalue.lock_release("rebuild:1", "not-the-token")
        assert await keyvalue.lock_acquire("rebuild:1", ttl_s=0.5) is None
        await keyvalue.lock_release("rebuild:1", token)
        second = await keyvalue.lock_acquire("rebuild:1", ttl_s=0.5)
        assert second is not None
        await asyncio.sleep(0.7)
        assert await keyvalue.lock_acquire("rebuild:1", ttl_s=0.5) is not None  # the first holder's lease ran out


class TimeSeriesContract(StoreContract[TimeSeriesStore]):
    role = Role.TIMESERIES

    def build(self, url: str, pools: PostgresPools, *, timeout_s: float = 5.0) -> TimeSeriesStore:
        return make_timeseries(StoreURL(self.role, url), pools, StoreOptions(connect_s=timeout_s))

    async def put_marker(self, store: TimeSeriesStore) -> None:
        await store.write_points([Point("marker", {"kind": "contract"}, {"value": 1.0}, datetime.now(UTC))])


def account(email: str, *, birthdate: date = date(1990, 5, 17)) -> NewAccount:
    return NewAccount(
        email=email, password_hash="$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA", name="Ada", birthdate=birthdate
    )


def event(aggregate: str, tag: str) -> Event:
    return Event("test", aggregate, "Tested", {"tag": tag, "nested": {"n": 1}})


class SessionContract(StoreContract[SessionStore]):
    role = Role.SESSIONS

    def build(self, url: str, pools: PostgresPools, *, timeout_s: float = 5.0) -> SessionStore:
        return make_sessions(StoreURL(self.role, url), pools, StoreOptions(connect_s=timeout_s))

    async def put_marker(self, store: SessionStore) -> None:
        await store.create("marker", Session(1, UserRole.USER, time.time()), idle_s=60, absolute_s=3600)

    async def test_a_session_lives_until_revoked(self, store: SessionStore) -> None:
        session = Session(42, UserRole.ADMIN, time.time())
        await store.create("h1", session, idle_s=60, absolute_s=3600)
        assert await store.read("h1", idle_s=60, absolute_s=3600) == session
        assert await store.read("other", idle_s=60, absolute_s=3600) is None
        await store.revoke("h1", absolute_s=3600)
        assert await store.read("h1", idle_s=60, absolute_s=3600) is None
        await store.revoke("h1", absolute_s=3600)  # idempotent
        await store.revoke("never-was", absolute_s=3600)

    async def test_a_session_ends_after_its_idle_timeout_unless_used(self, store: SessionStore) -> None:
        await store.create("idle", Session(1, UserRole.USER, time.time()), idle_s=2, absolute_s=3600)
        await store.create("busy", Session(2, UserRole.USER, time.time()), idle_s=2, absolute_s=3600)
        for _ in range(3):
            await asyncio.sleep(0.9)
            assert await store.read("busy", idle_s=2, absolute_s=3600) is not None  # each use restarts the timer
        assert await store.read("idle", idle_s=2, absolute_s=3600) is None

    async def test_a_session_ends_at_its_absolute_timeout_even_when_used(self, store: SessionStore) -> None:
        old = Session(1, UserRole.USER, time.time() - 3601)
        await store.create("old", old, idle_s=60, absolute_s=7200)
        assert await store.read("old", idle_s=60, absolute_s=3600) is None
        young = Session(1, UserRole.USER, time.time() - 1)
        await store.create("young", young, idle_s=60, absolute_s=3)
        assert await store.read("young", idle_s=60, absolute_s=3) == young
        await asyncio.sleep(2.2)
        assert await store.read("young", idle_s=60, absolute_s=3) is None

    async def test_signing_out_everywhere_ends_every_session_of_that_user_only(self, store: SessionStore) -> None:
        now = time.time()
        for name, user in (("a1", 7), ("a2", 7), ("a3", 7), ("b1", 8)):
            await store.create(name, Session(user, UserRole.USER, now), idle_s=60, absolute_s=3600)
        await store.revoke_user(7, absolute_s=3600)
        for name in ("a1", "a2", "a3"):
            assert await store.read(name, idle_s=60, absolute_s=3600) is None, name
        assert await store.read("b1", idle_s=60, absolute_s=3600) is not None
        await asyncio.sleep(0.01)
        later = Session(7, UserRole.USER, time.time())  # a sign-in after it lives
        await store.create("a4", later, idle_s=60, absolute_s=3600)
        assert await store.read("a4", idle_s=60, absolute_s=3600) == later
        await store.revoke_user(999, absolute_s=3600)  # a user with no sessions
