"""The graph role on FalkorDB (`embedded`: the module loaded into the embedded Redis), in Cypher.

URL: redis://[:password@]host:port, falkor://..., or unix:///path/to/redis.sock, with ``?graph=name`` (default
``social``) naming the graph key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import parse_qs, urlencode

from falkordb.asyncio import FalkorDB
from falkordb.asyncio.graph import AsyncGraph
from redis.exceptions import ResponseError

from polysocial.config import GRAPH_NAME, StoreURL
from polysocial.domain.graph import GraphUser, Suggestion, last_write_wins
from polysocial.stores.base import Adapter, EngineInfo, guard, guarded
from polysocial.stores.breaker import StoreOptions
from polysocial.stores.graph.cypher import CYPHER
from polysocial.stores.redis_pool import blocking_pool, retry_once


def split_graph_url(url: str) -> tuple[str, str]:
    """(the Redis URL for the client, the graph name)."""
    base, _, query_string = url.partition("?")
    query = parse_qs(query_string)
    graph = query.pop("graph", [GRAPH_NAME])[0]
    scheme, sep, rest = base.partition("://")
    scheme = {"falkor": "redis", "falkors": "rediss"}.get(scheme, scheme)
    remaining = urlencode({k: v[0] for k, v in query.items()})
    return f"{scheme}{sep}{rest}" + (f"?{remaining}" if remaining else ""), graph


BULK_BATCH = 20_000


def module_version(encoded: int) -> str:
    """FalkorDB reports its version in MODULE LIST as one integer: 41603 is 4.16.3."""
    return f"{encoded // 10000}.{encoded // 100 % 100}.{encoded % 100}"


class FalkorGraphStore(Adapter):
    def __init__(self, location: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(location, options)
        self._redis_url, self.graph_name = split_graph_url(location.url)
        self._db: FalkorDB | None = None
        self._schema_ready = False

    @property
    def db(self) -> FalkorDB:
        if self._db is None:
            raise self.not_open()
        return self._db

    async def _connect(self) -> None:
        # The Redis adapter's bounded, waiting pool (FalkorDB.from_url would build redis-py's refusing one). Its
        # retry policy is set after the constructor, which builds a synchronous client from the pool's settings to
        # ask whether the server is a cluster (an asyncio Retry there breaks it).
        pool = blocking_pool(self._redis_url, self.options, decode_responses=True, retry=None)
        self._db = FalkorDB(connection_pool=pool)
        pool.connection_kwargs["retry"] = retry_once()
        await self._module_version()
        await self._create_schema()

    @property
    def graph(self) -> AsyncGraph:
        return self.db.select_graph(self.graph_name)

    async def _create_schema(self) -> None:
        # A range index on :User(id), then a unique constraint on it: a second node for one user is refused by the
        # engine itself, whatever the code does.
        graph = self.graph
        for step in ("index", "constraint"):
            try:
                if step == "index":
                    await graph.query("CREATE INDEX FOR (u:User) ON (u.id)")
                else:
                    await graph.create_node_unique_constraint("User", "id")
            except ResponseError as exc:
                if "already" not in str(exc):
                    raise
        self._schema_ready = True

    async def _read(self, query: str, params: dict[str, object] | None = None) -> list[list[object]]:
        """A read-only query. A missing graph key (a wiped or brand-new Redis) reads as an empty graph, and the
        index and constraint are made again before the next write."""
        try:
            result = await self.graph.ro_query(query, params)
        except ResponseError as exc:
            if "empty key" not in str(exc):
                raise
            self._schema_ready = False
            return []
        rows: list[list[object]] = result.result_set
        return rows

    async def _write(self, query: str, params: dict[str, object] | None = None) -> None:
        if not self._schema_ready:
            await self._create_schema()
        await self.graph.query(query, params)

    async def _module_version(self) -> str:
        modules = await self.db.connection.execute_command("MODULE", "LIST")
        for module in modules:
            fields = dict(zip(module[::2], module[1::2], strict=True)) if isinstance(module, list) else module
            if fields.get("name") == "graph":
                return module_version(int(fields["ver"]))
        raise RuntimeError("the server answers but has no FalkorDB (graph) module loaded")

    @guard
    async def wipe(self) -> None:
        # The nodes, not the graph key: the key holds the index and the unique constraint made at open.
        await self.graph.query("MATCH (n) DETACH DELETE n")

    @guard
    async def item_count(self) -> int:
        if self.graph_name not in await self.db.list_graphs():
            return 0
        result = await self.graph.ro_query("MATCH (n) RETURN count(n)")
        return int(result.result_set[0][0])

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            # The client does not own the pool it was handed: closing it leaves the pool's sockets open.
            await db.connection.aclose()
            await db.connection.connection_pool.disconnect()

    async def ping(self) -> None:
        async def run() -> None:
            await self.db.connection.ping()

        await guarded(self._location, run)

    async def engine_info(self) -> EngineInfo:
        version = await guarded(self._location, self._module_version)
        return EngineInfo("FalkorDB", version, f"graph {self.graph_name!r}")

    # -- users ----------------------------------------------------------------------------------------------------

    async def upsert_users(self, users: Sequence[GraphUser]) -> None:
        batch = [{"id": u.user_id, "name": u.name} for u in last_write_wins(users)]
        if batch:
            await self._write("UNWIND $batch AS u MERGE (n:User {id: u.id}) SET n.name = u.name", {"batch": batch})

    async def missing_users(self, user_ids: Sequence[int]) -> list[int]:
        if not user_ids:
            return []
        rows = await self._read(
            "UNWIND $ids AS id OPTIONAL MATCH (u:User {id: id}) WITH id, u WHERE u IS NULL RETURN id ORDER BY id",
            {"ids": list(user_ids)},
        )
        if not rows and not self._schema_ready:  # no graph at all: every user is missing
            return sorted(user_ids)
        return [int(str(row[0])) for row in rows]

    async def duplicate_user_ids(self) -> list[int]:
        rows = await self._read("MATCH (u:User) WITH u.id AS id, count(u) AS n WHERE n > 1 RETURN id ORDER BY id")
        return [int(str(row[0])) for row in rows]

    async def count_users(self) -> int:
        rows = await self._read("MATCH (u:User) RETURN count(u)")
        return int(str(rows[0][0])) if rows else 0

    # -- follows --------------------------------------------------------------------------------------------------

    async def bulk_load(self, users: Sequence[GraphUser], edges: Sequence[tuple[int, int]]) -> None:
        for start in range(0, len(users), BULK_BATCH):
            batch = [[u.user_id, u.name] for u in users[start : start + BULK_BATCH]]
            await self._write(CYPHER.bulk_users, {"batch": batch})
        for start in range(0, len(edges), BULK_BATCH):
            batch = [[a, b] for a, b in edges[start : start + BULK_BATCH]]
            await self._write(CYPHER.bulk_edges, {"batch": batch})

    async def follow_many(self, edges: Sequence[tuple[int, int]]) -> None:
        pairs = [[a, b] for a, b in dict.fromkeys(edges)]
        if pairs:
            await self._write(CYPHER.follow, {"edges": pairs})

    async def unfollow_many(self, edges: Sequence[tuple[int, int]]) -> None:
        pairs = [[a, b] for a, b in dict.fromkeys(edges)]
        if pairs:
            await self._write(CYPHER.unfollow, {"edges": pairs})

    async def erase_user(self, user_id: int) -> None:
        await self._write(CYPHER.erase_user, {"id": user_id})

    async def follows(self, follower: int, followee: int) -> bool:
        rows = await self._read(CYPHER.follows, {"a": follower, "b": followee})
        return bool(rows and int(str(rows[0][0])) > 0)

    async def followers(self, user_id: int, *, after: int, limit: int) -> list[int]:
        rows = await self._read(CYPHER.followers, {"id": user_id, "after": after, "limit": limit})
        return [int(str(r[0])) for r in rows]

    async def follower_ids(self, user_id: int) -> list[int]:
        rows = await self._read(CYPHER.falkordb_follower_ids, {"id": user_id})
        return [int(i) for i in json.loads(str(rows[0][0]))] if rows else []

    async def following(self, user_id: int, *, after: int, limit: int) -> list[int]:
        rows = await self._read(CYPHER.following, {"id": user_id, "after": after, "limit": limit})
        return [int(str(r[0])) for r in rows]

    async def follow_counts(self, user_id: int) -> tuple[int, int]:
        rows = await self._read(CYPHER.counts, {"id": user_id})
        return (int(str(rows[0][0])), int(str(rows[0][1]))) if rows else (0, 0)

    async def mutual_follows(self, a: int, b: int, *, after: int, limit: int) -> list[int]:
        rows = await self._read(CYPHER.mutuals, {"a": a, "b": b, "after": after, "limit": limit})
        return [int(str(r[0])) for r in rows]

    async def suggestions(self, user_id: int, *, limit: int) -> list[Suggestion]:
        rows = await self._read(CYPHER.suggestions, {"id": user_id, "limit": limit})
        return [Suggestion(int(str(r[0])), int(str(r[1]))) for r in rows]

    async def within_hops(self, user_id: int, *, hops: int, limit: int) -> list[tuple[int, int]]:
        rows = await self._read(CYPHER.within_hops(hops), {"id": user_id, "limit": limit})
        return [(int(str(r[0])), int(str(r[1]))) for r in rows]

    async def path_length(self, source: int, target: int, *, max_hops: int = 6) -> int | None:
        if source == target:
            return 0
        # FalkorDB allows shortestPath only in WITH or RETURN, and without a length bound: bound it afterwards.
        rows = await self._read(CYPHER.falkordb_shortest_path, {"a": source, "b": target})
        if not rows or rows[0][0] is None:
            return None
        length = int(str(rows[0][0]))
        return length if length <= max_hops else None
