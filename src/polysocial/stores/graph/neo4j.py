"""The graph role on Neo4j (`seed`), through the official async driver.

URL: neo4j://[user:password@]host:port (the routing scheme, the default: on a cluster, writes go to the leader and
reads, sent with ``routing_="r"``, to followers) or bolt://... (one server); an optional ``?database=name`` picks the
database (the driver's own URL does not carry it, so it is taken off here).

Causal consistency: every query goes through ``execute_query``, which shares the driver's bookmark manager. A write's
bookmark is kept, and every later read of this process waits, on whichever member it is routed to, until that member
has the write: a follow is in the next suggestion query of that user (``test_seed_adapters.py`` checks the bookmarks).
Another process has its own bookmarks: a user whose next request lands there may read a follower that lags by the
cluster's replication delay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from neo4j import AsyncDriver, AsyncGraphDatabase

from polysocial.config import StoreURL
from polysocial.domain.graph import GraphUser, Suggestion, last_write_wins
from polysocial.stores.base import Adapter, EngineInfo, guard, guarded
from polysocial.stores.breaker import StoreOptions
from polysocial.stores.graph.cypher import CYPHER

BULK_BATCH = 20_000


def split_neo4j_url(url: str) -> tuple[str, tuple[str, str] | None, str | None]:
    """(driver URL without credentials or database, auth, database)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    database = query.pop("database", [None])[0]
    auth = (parts.username or "", parts.password or "") if parts.username else None
    host = parts.hostname or "localhost"
    netloc = f"{host}:{parts.port}" if parts.port else host
    rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
    return urlunsplit((parts.scheme, netloc, "", rest, "")), auth, database


WIPE_BATCH = 10_000
WIPE_EDGES = "MATCH ()-[r]->() WITH r LIMIT $batch DELETE r RETURN count(r) AS n"
WIPE_NODES = "MATCH (n) WITH n LIMIT $batch DETACH DELETE n RETURN count(n) AS n"


class Neo4jGraphStore(Adapter):
    def __init__(self, location: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(location, options)
        self._driver_url, self._auth, self.database = split_neo4j_url(location.url)
        self._driver: AsyncDriver | None = None

    @property
    def driver(self) -> AsyncDriver:
        if self._driver is None:
            raise self.not_open()
        return self._driver

    async def _connect(self) -> None:
        self._driver = AsyncGraphDatabase.driver(
            self._driver_url,
            auth=self._auth,
            connection_timeout=self._timeout,
            connection_acquisition_timeout=self._timeout,
            max_transaction_retry_time=self.options.command_s,
        )
        await self._driver.verify_connectivity()
        # Unique :User(id): a second node for one user is refused by the engine, and MERGE is safe under
        # concurrency (the constraint's index serialises the lookups).
        await self._driver.execute_query(
            "CREATE CONSTRAINT user_id_unique IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE",
            database_=self.database,
        )

    @guard
    async def wipe(self) -> None:
        # In batches: one DETACH DELETE of a whole graph is one transaction, and at 20,000 users and 400,000 follows
        # it ran past Neo4j's transaction memory limit (dbms.memory.transaction.total.max) on a 768 MB heap.
        for query in (WIPE_EDGES, WIPE_NODES):
            while True:
                records, _, _ = await self.driver.execute_query(query, batch=WIPE_BATCH, database_=self.database)
                if not records or int(records[0]["n"]) == 0:
                    break

    @guard
    async def item_count(self) -> int:
        records, _, _ = await self.driver.execute_query("MATCH (n) RETURN count(n) AS n", database_=self.database)
        return int(records[0]["n"])

    async def close(self) -> None:
        if self._driver is not None:
            driver, self._driver = self._driver, None
            await driver.close()

    async def ping(self) -> None:
        async def run() -> None:
            await self.driver.execute_query("RETURN 1", database_=self.database)

        await guarded(self._location, run)

    async def engine_info(self) -> EngineInfo:
        async def run() -> tuple[str, str]:
            records, _, _ = await self.driver.execute_query(
                "CALL dbms.components() YIELD name, versions, edition RETURN name, versions[0] AS v, edition",
                database_=self.database,
            )
            record = records[0]
            return str(record["v"]), str(record["edition"])

        version, edition = await guarded(self._location, run)
        return EngineInfo("Neo4j", version, edition)

    # -- users ----------------------------------------------------------------------------------------------------

    async def upsert_users(self, users: Sequence[GraphUser]) -> None:
        batch = [{"id": u.user_id, "name": u.name} for u in last_write_wins(users)]
        if batch:
            await self.driver.execute_query(
                "UNWIND $batch AS u MERGE (n:User {id: u.id}) SET n.name = u.name",
                batch=batch,
                database_=self.database,
            )

    async def missing_users(self, user_ids: Sequence[int]) -> list[int]:
        if not user_ids:
            return []
        records, _, _ = await self.driver.execute_query(
            "UNWIND $ids AS id OPTIONAL MATCH (u:User {id: id}) WITH id, u WHERE u IS NULL RETURN id ORDER BY id",
            ids=list(user_ids),
            database_=self.database,
            routing_="r",
        )
        return [int(r["id"]) for r in records]

    async def duplicate_user_ids(self) -> list[int]:
        records, _, _ = await self.driver.execute_query(
            "MATCH (u:User) WITH u.id AS id, count(u) AS n WHERE n > 1 RETURN id ORDER BY id",
            database_=self.database,
            routing_="r",
        )
        return [int(r["id"]) for r in records]

    async def count_users(self) -> int:
        records, _, _ = await self.driver.execute_query(
            "MATCH (u:User) RETURN count(u) AS n", database_=self.database, routing_="r"
        )
        return int(records[0]["n"])

    # -- follows --------------------------------------------------------------------------------------------------

    async def _records(self, query: str, **params: Any) -> list[Any]:
        records, _, _ = await self.driver.execute_query(query, params, database_=self.database, routing_="r")
        return list(records)

    async def bulk_load(self, users: Sequence[GraphUser], edges: Sequence[tuple[int, int]]) -> None:
        for start in range(0, len(users), BULK_BATCH):
            batch = [[u.user_id, u.name] for u in users[start : start + BULK_BATCH]]
            await self.driver.execute_query(CYPHER.bulk_users, batch=batch, database_=self.database)
        for start in range(0, len(edges), BULK_BATCH):
            batch = [[a, b] for a, b in edges[start : start + BULK_BATCH]]
            await self.driver.execute_query(CYPHER.bulk_edges, batch=batch, database_=self.database)

    async def follow_many(self, edges: Sequence[tuple[int, int]]) -> None:
        pairs = [[a, b] for a, b in dict.fromkeys(edges)]
        if pairs:
            await self.driver.execute_query(CYPHER.follow, edges=pairs, database_=self.database)

    async def unfollow_many(self, edges: Sequence[tuple[int, int]]) -> None:
        pairs = [[a, b] for a, b in dict.fromkeys(edges)]
        if pairs:
            await self.driver.execute_query(CYPHER.unfollow, edges=pairs, database_=self.database)

    async def erase_user(self, user_id: int) -> None:
        await self.driver.execute_query(CYPHER.erase_user, id=user_id, database_=self.database)

    async def follows(self, follower: int, followee: int) -> bool:
        records = await self._records(CYPHER.follows, a=follower, b=followee)
        return bool(records and int(records[0][0]) > 0)

    async def followers(self, user_id: int, *, after: int, limit: int) -> list[int]:
        return [int(r["id"]) for r in await self._records(CYPHER.followers, id=user_id, after=after, limit=limit)]

    async def follower_ids(self, user_id: int) -> list[int]:
        records = await self._records(CYPHER.follower_ids, id=user_id)
        return [int(i) for i in records[0]["ids"]] if records else []

    async def following(self, user_id: int, *, after: int, limit: int) -> list[int]:
        return [int(r["id"]) for r in await self._records(CYPHER.following, id=user_id, after=after, limit=limit)]

    async def follow_counts(self, user_id: int) -> tuple[int, int]:
        records = await self._records(CYPHER.counts, id=user_id)
        return (int(records[0]["followers"]), int(records[0]["following"])) if records else (0, 0)

    async def mutual_follows(self, a: int, b: int, *, after: int, limit: int) -> list[int]:
        return [int(r["id"]) for r in await self._records(CYPHER.mutuals, a=a, b=b, after=after, limit=limit)]

    async def suggestions(self, user_id: int, *, limit: int) -> list[Suggestion]:
        records = await self._records(CYPHER.suggestions, id=user_id, limit=limit)
        return [Suggestion(int(r["id"]), int(r["strength"])) for r in records]

    async def within_hops(self, user_id: int, *, hops: int, limit: int) -> list[tuple[int, int]]:
        records = await self._records(CYPHER.within_hops(hops), id=user_id, limit=limit)
        return [(int(r["id"]), int(r["distance"])) for r in records]

    async def path_length(self, source: int, target: int, *, max_hops: int = 6) -> int | None:
        if source == target:
            return 0
        records = await self._records(CYPHER.neo4j_shortest_path % int(max_hops), a=source, b=target)
        return int(records[0][0]) if records else None
