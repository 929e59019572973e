"""`polysocial report customers`: the seed's customer report from the command line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from polysocial.bootstrap import bootstrap
from polysocial.config import Role, Settings
from polysocial.domain.accounts import NewAccount
from polysocial.engines.embedded import EmbeddedEngines
from tests.conftest import isolated_settings
from tests.support.cli import run_cli


def env_for(settings: Settings) -> dict[str, str]:
    return {f"POLYSOCIAL_{role.value.upper()}_URL": settings.store_url(role).url for role in Role}


async def test_the_customer_report_lists_customers_with_more_than_n_orders(embedded_engines: EmbeddedEngines) -> None:
    settings = isolated_settings(embedded_engines, "report")
    app = await bootstrap(settings)
    try:
        await app.stores.wipe()
        hashed = await app.passwords.hash("correct horse battery staple")
        async with app.stores.relational.transaction() as tx:
            big = await tx.accounts.insert_account(NewAccount("big@example.com", hashed, "Big", date(1980, 1, 1)))
            small = await tx.accounts.insert_account(NewAccount("small@example.com", hashed, "Small", date(1980, 1, 1)))
            for user in (big, small):
                await tx.wallet.deposit(user, Decimal("500.00"))
            widget = await tx.shop.create_product("Widget", Decimal("12.50"), 100)
        for user, times in ((big, 6), (small, 3)):
            for _ in range(times):
                await app.services.shop.place_order(user, [(widget.product_id, 1)])
    finally:
        await app.aclose()
    result = run_cli("report", "customers", env=env_for(settings))
    assert result.returncode == 0, result.stderr
    assert "big@example.com" in result.stdout
    assert "small@example.com" not in result.stdout
    assert "75.00" in result.stdout  # 6 x 12.50
    assert "1 customers" in result.stdout
    everyone = run_cli("report", "customers", "--min-orders", "0", env=env_for(settings))
    assert "small@example.com" in everyone.stdout
    bad = run_cli("report", "customers", "--days", "0", env=env_for(settings))
    assert bad.returncode == 2
    assert "days" in bad.stderr.lower()
