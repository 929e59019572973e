"""`polysocial seed-data`: a synthetic network in the stores, through the real command."""

from __future__ import annotations

from polysocial.bootstrap import bootstrap
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.stores.documents.protocol import COMMENTS, POSTS
from polysocial.stores.relational.postgres import PostgresRelationalStore
from tests.cli.test_report import env_for
from tests.conftest import isolated_settings
from tests.support.cli import run_cli


async def test_seed_data_loads_a_consistent_network_once(embedded_engines: EmbeddedEngines) -> None:
    settings = isolated_settings(embedded_engines, "seeddata")
    app = await bootstrap(settings)
    try:
        await app.stores.wipe()
    finally:
        await app.aclose()
    args = ["seed-data", "--users", "300", "--avg-follows", "8", "--posts", "900", "--products", "12", "--seed", "5"]
    result = run_cli(*args, env=env_for(settings), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "loaded 300 users, 2,400 follows, 900 posts" in result.stdout
    assert "password (shown once)" in result.stdout
    # progress that means something: what was generated, then each stage counted in its own units
    assert "generated 300 users, 2,400 follows, 900 posts" in result.stderr
    assert "1 / 1" not in result.stderr
    assert "accounts and wallets" in result.stderr

    app = await bootstrap(settings)
    try:
        assert await app.stores.graph.count_users() == 300
        assert sorted(await app.stores.graph.follower_ids(1)) == await app.stores.graph.followers(
            1, after=0, limit=10_000
        )
        page = await app.stores.documents.find_page(POSTS, equals={"deleted": False}, before_id=None, limit=5)
        assert len(page) == 5
        assert all(p["author_id"] >= 1 for p in page)
        relational = app.stores.relational
        assert isinstance(relational, PostgresRelationalStore)
        async with relational.pool.connection() as conn:
            users, drift, ledger, products = await (
                await conn.execute(
                    "SELECT (SELECT count(*) FROM users), "
                    "(SELECT count(*) FROM users u WHERE balance <> "
                    "(SELECT coalesce(sum(amount), 0) FROM ledger_entries l WHERE l.user_id = u.user_id)), "
                    "(SELECT sum(amount) FROM ledger_entries), "
                    "(SELECT count(*) FROM products)"
                )
            ).fetchone() or (0, -1, -1, 0)
        assert (users, drift, ledger, products) == (300, 0, 0, 12)
        comments = await app.stores.documents.find_page(COMMENTS, equals={}, before_id=None, limit=10_000)
        assert len(comments) > 100
    finally:
        await app.aclose()

    again = run_cli(*args, env=env_for(settings), timeout=300)
    assert again.returncode == 2
    assert "exist already" in again.stderr
