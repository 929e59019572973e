"""Money under load on PostgreSQL (the embedded profile's engine), through the services, with the invariants checked
afterwards: orders on one hot product, orders across 1,000 products, and transfers.

    python -m polysocial.bench.commerce [--clients 32] [--orders 6000] [--transfers 20000] [--accounts 1000]

Each workload runs ``--clients`` concurrent clients (tasks, each with its own connection). Latency is per operation
(p50/p99 over all of them); throughput is operations over wall time. Refusals (out of stock, insufficient funds)
count as operations: they are answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

from polysocial.bench.common import console, print_table, profile_settings, summary
from polysocial.bootstrap import App, bootstrap
from polysocial.domain.accounts import NewAccount
from polysocial.stores.relational.postgres import PostgresRelationalStore

Job = Callable[[], Awaitable[Any]]


async def drive(jobs: list[Job], clients: int) -> tuple[dict[str, float], Counter[str]]:
    queue = list(reversed(jobs))
    timings: list[float] = []
    outcomes: Counter[str] = Counter()

    async def client() -> None:
        while queue:
            job = queue.pop()
            started = time.perf_counter()
            try:
                await job()
                outcomes["ok"] += 1
            except Exception as exc:  # a refusal is an answer; anything else is reported
                outcomes[type(exc).__name__] += 1
            timings.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    seconds = time.perf_counter() - started
    return {**summary(timings), "ops_per_s": len(jobs) / seconds}, outcomes


def pair(rng: random.Random, users: list[int]) -> tuple[int, int]:
    a, b = rng.sample(users, 2)
    return a, b


async def make_accounts(app: App, n: int, funds: Decimal) -> list[int]:
    hashed = await app.passwords.hash("benchmark passphrase")
    users = []
    async with app.stores.relational.transaction() as tx:
        for i in range(n):
            user = await tx.accounts.insert_account(NewAccount(f"b{i}@example.com", hashed, f"B{i}", date(1990, 1, 1)))
            await tx.wallet.deposit(user, funds)
            users.append(user)
    return users


async def invariants(app: App) -> dict[str, int]:
    """Violations found (all must be 0)."""
    relational = app.stores.relational
    assert isinstance(relational, PostgresRelationalStore)
    checks = {
        "negative balances": "SELECT count(*) FROM users WHERE balance < 0",
        "negative stock": "SELECT count(*) FROM products WHERE stock < 0",
        "wallets off their ledger": "SELECT count(*) FROM users u WHERE balance <> "
        "(SELECT coalesce(sum(amount), 0) FROM ledger_entries l WHERE l.user_id = u.user_id)",
        "movements not summing to zero": "SELECT count(*) FROM (SELECT movement_id FROM ledger_entries "
        "GROUP BY movement_id HAVING sum(amount) <> 0) m",
        "ledger not summing to zero": "SELECT count(*) FROM (SELECT sum(amount) s FROM ledger_entries) t WHERE s <> 0",
        "paid orders without their payment": "SELECT count(*) FROM orders o WHERE status = 'paid' AND NOT EXISTS "
        "(SELECT 1 FROM payments p WHERE p.order_id = o.order_id AND p.kind = 'charge' AND p.amount = o.total)",
        "stock sold beyond what there was": "SELECT count(*) FROM products p WHERE p.stock + coalesce((SELECT "
        "sum(quantity) FROM order_items i JOIN orders o USING (order_id) WHERE i.product_id = p.product_id "
        "AND o.status <> 'cancelled'), 0) <> 1000000",
    }
    found = {}
    async with relational.pool.connection() as conn:
        for name, query in checks.items():
            row = await (await conn.execute(query)).fetchone()
            found[name] = int(row[0]) if row else -1
    return found


async def run(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    app = await bootstrap(settings.model_copy(update={"postgres_pool_size": args.clients + 4}))
    try:
        buyers = await make_accounts(app, args.accounts, Decimal("1000000.00"))
        shop = app.services.shop
        products = [(await shop.create_product(f"p{i}", Decimal("9.99"), 1_000_000)).product_id for i in range(1000)]
        rng = random.Random(2026)  # noqa: S311 - reproducible load
        hot = products[0]

        def order(user: int, product: int) -> Job:
            return lambda: app.services.shop.place_order(user, [(product, 1)])

        def transfer(a: int, b: int, amount: Decimal) -> Job:
            return lambda: app.services.wallet.transfer(a, b, amount)

        results: dict[str, Any] = {}
        workloads: list[tuple[str, list[Job]]] = [
            ("orders, one hot product", [order(rng.choice(buyers), hot) for _ in range(args.orders)]),
            (
                "orders across 1,000 products",
                [order(rng.choice(buyers), rng.choice(products)) for _ in range(args.orders)],
            ),
            (
                "transfers",
                [transfer(*pair(rng, buyers), Decimal(rng.randrange(1, 10_000)) / 100) for _ in range(args.transfers)],
            ),
        ]
        for name, jobs in workloads:
            await drive(jobs[: min(200, len(jobs))], args.clients)  # warm-up (not counted)
            with console.status(f"{name}: {len(jobs):,} with {args.clients} clients ..."):
                numbers, outcomes = await drive(jobs, args.clients)
            results[name] = {**numbers, "outcomes": dict(outcomes)}
        results["invariant violations"] = await invariants(app)
    finally:
        await app.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--orders", type=int, default=6_000)
    parser.add_argument("--transfers", type=int, default=20_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    args = parser.parse_args()
    with profile_settings("embedded") as settings:
        results = asyncio.run(run(args, settings))
    violations = results.pop("invariant violations")
    print_table(
        f"money on PostgreSQL, {args.clients} clients (ms; ops/s)",
        {k: {m: v for m, v in r.items() if m != "outcomes"} for k, r in results.items()},
    )
    for name, numbers in results.items():
        console.print(f"{name}: {numbers['outcomes']}")
    console.print(f"invariant violations: {violations}")
    checks = [
        ("orders across 1,000 products >= 1,000/s", results["orders across 1,000 products"]["ops_per_s"] >= 1000),
        ("transfers >= 2,000/s", results["transfers"]["ops_per_s"] >= 2000),
        ("zero invariant violations", not any(violations.values())),
    ]
    for name, ok in checks:
        console.print(f"{'[green]met[/]' if ok else '[red]MISSED[/]'}  {name}")
    print(json.dumps({"commerce": results, "violations": violations}))


if __name__ == "__main__":
    main()
