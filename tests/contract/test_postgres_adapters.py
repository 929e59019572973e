"""Every role's PostgreSQL adapter (the `embedded` and `postgres-only` profiles), on the embedded PostgreSQL."""

from __future__ import annotations

import pytest

from polysocial.domain.ids import new_id
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.stores.documents.postgres import PostgresDocumentStore
from polysocial.stores.documents.protocol import POSTS
from polysocial.stores.graph.postgres import PostgresGraphStore
from polysocial.stores.keyvalue.postgres import PostgresKeyValueStore
from polysocial.stores.relational.postgres import PostgresRelationalStore
from polysocial.stores.sessions.postgres import PostgresSessionStore
from polysocial.stores.timeseries.postgres import PostgresTimeSeriesStore
from tests.contract.analytics import LeaderboardContract, TimeSeriesOperations
from tests.contract.base import (
    SECRET,
    DocumentOperationsContract,
    FollowGraphContract,
    KeyValueContract,
    RelationalContract,
    SessionContract,
    TimeSeriesContract,
)

pytestmark = pytest.mark.contract

UNREACHABLE = f"postgresql://app:{SECRET}@127.0.0.1:1/polysocial"


class PostgresEngine:
    engine = "PostgreSQL"
    unreachable_url = UNREACHABLE

    @pytest.fixture(scope="class")
    @classmethod
    def url(cls, embedded_engines: EmbeddedEngines) -> str:
        return embedded_engines.postgres.url


class TestPostgresRelational(PostgresEngine, RelationalContract):
    adapter = PostgresRelationalStore


class TestPostgresDocuments(PostgresEngine, DocumentOperationsContract):
    adapter = PostgresDocumentStore

    async def test_numbers_come_back_as_they_were_stored(self, store: PostgresDocumentStore) -> None:
        """JSONB holds integers of any size (MongoDB's BSON does not: this is PostgreSQL's own); they are read back
        as Python's integers, not as orjson's floats (stores/postgres_pool.json_loads)."""
        numbers = {"big": 2**70, "u64": 2**64 - 1, "low": -(2**63) - 1, "f": 0.1, "one": 1, "float_one": 1.5}
        doc_id = new_id()
        await store.insert(POSTS, doc_id, {"author_id": 424242, "deleted": False, **numbers})
        page = await store.find_page(POSTS, equals={"author_id": 424242}, before_id=None, limit=1)
        found = await store.find_any(
            POSTS, field="author_id", values=[424242], equals={"deleted": False}, before_id=None, limit=1
        )
        for doc in (page[0], found[0], await store.get(POSTS, doc_id)):
            assert doc is not None
            assert {k: (type(doc[k]), doc[k]) for k in numbers} == {k: (type(v), v) for k, v in numbers.items()}


class TestPostgresGraph(PostgresEngine, FollowGraphContract):
    adapter = PostgresGraphStore


class TestPostgresKeyValue(PostgresEngine, KeyValueContract, LeaderboardContract):
    adapter = PostgresKeyValueStore


class TestPostgresSessions(PostgresEngine, SessionContract):
    adapter = PostgresSessionStore


class TestPostgresTimeSeries(PostgresEngine, TimeSeriesContract, TimeSeriesOperations):
    adapter = PostgresTimeSeriesStore


@pytest.mark.parametrize(
    ("birthdate", "today"),
    [
        ("2000-06-01", "2018-06-01"),
        ("2000-06-02", "2018-06-01"),
        ("2000-02-29", "2018-02-28"),
        ("2000-02-29", "2018-03-01"),
        ("2002-02-28", "2020-02-29"),
        ("2002-03-01", "2020-02-29"),
    ],
)
def test_the_python_age_rule_matches_the_database_check(
    embedded_engines: EmbeddedEngines, birthdate: str, today: str
) -> None:
    """The service refuses minors before the database does; both must draw the line on the same day."""
    from datetime import date

    import psycopg

    from polysocial.domain.accounts import is_adult

    with psycopg.connect(embedded_engines.postgres.url) as conn:
        row = conn.execute("SELECT %s::date <= %s::date - interval '18 years'", (birthdate, today)).fetchone()
    assert row is not None
    assert row[0] is is_adult(date.fromisoformat(birthdate), date.fromisoformat(today))
