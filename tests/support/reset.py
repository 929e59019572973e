"""Emptying a store between tests, whatever its engine, through the adapter's own client.

Tests share the session's engines, so each test starts from empty stores instead of restarting engines.
"""

from __future__ import annotations

from polysocial.stores.base import Store
from polysocial.stores.documents.mongo import MongoDocumentStore
from polysocial.stores.graph.falkordb import FalkorGraphStore
from polysocial.stores.graph.neo4j import Neo4jGraphStore
from polysocial.stores.postgres_common import PostgresBackedStore
from polysocial.stores.redis.redis import RedisKeyValueStore
from polysocial.stores.timeseries.influx import InfluxTimeSeriesStore

TRUNCATE_ALL = """
DO $$
DECLARE tables text;
BEGIN
  SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO tables
  FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations';
  IF tables IS NOT NULL THEN
    EXECUTE 'TRUNCATE ' || tables || ' RESTART IDENTITY CASCADE';
  END IF;
END $$;
"""


async def reset_store(store: Store) -> None:
    if isinstance(store, PostgresBackedStore):
        async with store.pool.connection() as conn:
            await conn.execute(TRUNCATE_ALL)
    elif isinstance(store, RedisKeyValueStore):
        # Every key but a FalkorDB graph's: in `embedded` the graph shares this server and is the graph role's.
        async for key in store.client.scan_iter(count=1000):
            if await store.client.type(key) != b"graphdata":
                await store.client.delete(key)
    elif isinstance(store, FalkorGraphStore):
        # Delete the nodes, not the graph key: the key holds the adapter's index and unique constraint.
        await store.graph.query("MATCH (n) DETACH DELETE n")
    elif isinstance(store, Neo4jGraphStore):
        await store.driver.execute_query("MATCH (n) DETACH DELETE n", database_=store.database)
    elif isinstance(store, MongoDocumentStore):
        for name in await store.db.list_collection_names():
            await store.db[name].delete_many({})
    elif isinstance(store, InfluxTimeSeriesStore):
        response = await store.client.post("/query", data={"q": "DROP SERIES FROM /.*/", "db": store.database})
        response.raise_for_status()
    else:
        raise TypeError(f"no reset for {type(store).__name__}")


async def count_items(store: Store) -> int:
    """How much data the store holds (rows, keys, nodes, documents, series), to check a reset."""
    if isinstance(store, PostgresBackedStore):
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
            )
            tables = await cur.fetchall()
            total = 0
            for (name,) in tables:
                row = await (await conn.execute(f'SELECT count(*) FROM "{name}"')).fetchone()  # noqa: S608
                total += int(row[0]) if row else 0
            return total
    if isinstance(store, RedisKeyValueStore):
        return len([k async for k in store.client.scan_iter(count=1000) if await store.client.type(k) != b"graphdata"])
    if isinstance(store, FalkorGraphStore):
        if store.graph_name not in await store.db.list_graphs():
            return 0
        result = await store.db.select_graph(store.graph_name).ro_query("MATCH (n) RETURN count(n)")
        return int(result.result_set[0][0])
    if isinstance(store, Neo4jGraphStore):
        records, _, _ = await store.driver.execute_query("MATCH (n) RETURN count(n) AS n", database_=store.database)
        return int(records[0]["n"])
    if isinstance(store, MongoDocumentStore):
        return sum([await store.db[name].count_documents({}) for name in await store.db.list_collection_names()])
    if isinstance(store, InfluxTimeSeriesStore):
        response = await store.client.get("/query", params={"q": "SHOW SERIES", "db": store.database})
        response.raise_for_status()
        series = response.json()["results"][0].get("series") or []
        return sum(len(s.get("values") or []) for s in series)
    raise TypeError(f"no count for {type(store).__name__}")


async def put_marker(store: Store) -> None:
    """Write one item through the engine's own client (the roles have no write API yet in the foundation)."""
    if isinstance(store, PostgresBackedStore):
        async with store.pool.connection() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS test_marker (id int)")
            await conn.execute("INSERT INTO test_marker VALUES (1)")
    elif isinstance(store, RedisKeyValueStore):
        await store.client.set("test:marker", "1")
    elif isinstance(store, FalkorGraphStore):
        await store.db.select_graph(store.graph_name).query("CREATE (:Marker {id: 1})")
    elif isinstance(store, Neo4jGraphStore):
        await store.driver.execute_query("CREATE (:Marker {id: 1})", database_=store.database)
    elif isinstance(store, MongoDocumentStore):
        await store.db["test_marker"].insert_one({"id": 1})
    elif isinstance(store, InfluxTimeSeriesStore):
        response = await store.client.post(
            "/write", params={"db": store.database}, content=b"test_marker,kind=contract value=1i"
        )
        response.raise_for_status()
    else:
        raise TypeError(f"no marker for {type(store).__name__}")


async def wipe_key_value(store: Store) -> None:
    """What a Redis restart with no data looks like to the redis role: every key gone. In postgres-only the role's
    tables share the database with the relational role's, so only they are emptied."""
    if isinstance(store, PostgresBackedStore):
        async with store.pool.connection() as conn:
            await conn.execute(
                "TRUNCATE kv_sessions, kv_rate_limits, kv_cache, kv_cache_generations, kv_locks, kv_carts"
            )
    else:
        await reset_store(store)
