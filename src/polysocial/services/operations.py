"""What operators ask of a running platform: is every role answering, and how far behind is the relay."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from polysocial.domain.errors import NotFound
from polysocial.events.relay import Relay, RelayStatus
from polysocial.services.feed import Feeds
from polysocial.services.health import RoleHealth, check_stores
from polysocial.services.passwords import Passwords
from polysocial.services.reconcile import (
    Drift,
    UserGraphReport,
    rebuild_graph,
    reconcile_carts,
    reconcile_counters,
    reconcile_follows,
    reconcile_timelines,
    reconcile_user_nodes,
)
from polysocial.services.seeding import Loaded, Step, load_network
from polysocial.stores.factory import Stores
from polysocial.stores.keyvalue.protocol import TimelineKind
from polysocial.synthetic import Network


@dataclass
class Reconciled:
    users: UserGraphReport
    projections: list[Drift]

    @property
    def drift(self) -> int:
        return len(self.users.missing) + len(self.users.duplicates) + sum(len(d.found) for d in self.projections)


class Operations:
    def __init__(self, stores: Stores, relay: Relay, passwords: Passwords, feeds: Feeds) -> None:
        self.stores = stores
        self.relay = relay
        self.passwords = passwords
        self.feeds = feeds

    async def health(self) -> list[RoleHealth]:
        return await check_stores(self.stores.all())

    async def relay_status(self) -> RelayStatus:
        return await self.relay.status()

    async def reconcile(
        self,
        *,
        repair: bool,
        timeline_sample: int = 200,
        seed: int | None = None,
        counters: bool = True,
        counter_posts: Sequence[str] | None = None,
        graph: bool = True,
    ) -> Reconciled:
        """Compare every projection with its source of truth (services/reconcile.py) and repair the drift.
        ``counters=False`` skips the post counters (a full scan of the comments): after a restore of a profile whose
        documents live in PostgreSQL they came back with their posts, from the same WAL. ``graph=False`` skips the
        graph's nodes and edges: after ``rebuild_graph`` loaded them from the record. ``counter_posts``: only these
        posts' counters (those a restore names)."""
        stores = self.stores
        users = UserGraphReport()
        projections: list[Drift] = []
        if graph:
            users = await reconcile_user_nodes(stores.relational, stores.graph, repair=repair)  # before their edges
            projections.append(await reconcile_follows(stores.relational, stores.graph, repair=repair))
        if counters:
            projections.append(await reconcile_counters(stores.documents, repair=repair, only=counter_posts))
        projections += [
            await reconcile_timelines(
                stores.relational, self.feeds, stores.timelines, repair=repair, sample=timeline_sample, seed=seed
            ),
            await reconcile_carts(stores.relational, stores.keyvalue, repair=repair),
        ]
        return Reconciled(users, projections)

    async def forget_sessions(self) -> None:
        """End every session (and delete their PostgreSQL copies): after a restore, sessions the backup holds may
        have been signed out since, and none is brought back from the past."""
        await self.stores.sessions.wipe()
        await self.stores.relational.session_backup_clear()

    async def rebuild_feed(self, user_id: int) -> int | None:
        """One user's home and user timelines dropped and rebuilt now; the home timeline's length (None: this
        profile keeps no timelines). NotFound for an unknown user."""
        async with self.stores.relational.reading() as tx:
            if await tx.accounts.me(user_id) is None:
                raise NotFound(f"user {user_id} does not exist")
        return await self.feeds.rebuild_now(user_id)

    async def rebuild_live_feeds(self, progress: Callable[[int, int], object] = lambda done, rebuilt: None) -> int:
        """Every live home timeline (a user who read their feed lately) dropped and rebuilt now, eight at a time;
        a user without one gets it on their next read anyway. How many were rebuilt; ``progress(users seen,
        rebuilt)`` after each batch of users."""
        timelines = self.feeds.timelines
        if timelines is None:
            return 0
        seen = rebuilt = 0
        gate = asyncio.Semaphore(8)

        async def one(user_id: int) -> bool:
            async with gate:
                if not await timelines.timeline_is_live(TimelineKind.HOME, user_id):
                    return False
                await self.feeds.rebuild_now(user_id)
                return True

        async for batch in self.stores.relational.iter_user_ids():
            rebuilt += sum(await asyncio.gather(*(one(u) for u in batch)))
            seen += len(batch)
            progress(seen, rebuilt)
        return rebuilt

    async def rebuild_graph(self) -> tuple[int, int]:
        """The graph emptied and bulk-loaded from the accounts and the follow record: (users, edges)."""
        return await rebuild_graph(self.stores.relational, self.stores.graph)

    async def load_network(self, network: Network, *, seed: int, password: str, step: Step) -> Loaded:
        """Bulk-load a synthetic network into every store (`polysocial seed-data`, the demo, the bench)."""
        return await load_network(
            network,
            seed=seed,
            password_hash=await self.passwords.hash(password),
            relational=self.stores.relational,
            graph=self.stores.graph,
            documents=self.stores.documents,
            step=step,
        )
