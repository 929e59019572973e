"""Wallets, the shop, seats and carts through the API, on every profile (money is always PostgreSQL; carts' live
copy is Redis or, in postgres-only, a table)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import httpx
import pytest

from polysocial.bootstrap import App
from tests.support.accounts import PASSWORD, SignedUser, sign_up, sign_up_admin

PROBLEM = "application/problem+json"


async def funded(client: httpx.AsyncClient, amount: str = "100.00") -> SignedUser:
    user = await sign_up(client)
    response = await client.post("/wallet/deposits", json={"amount": amount}, headers=user.auth)
    assert response.status_code == 201, response.text
    return user


async def balance(client: httpx.AsyncClient, user: SignedUser) -> Decimal:
    return Decimal((await client.get("/wallet", headers=user.auth)).json()["balance"])


async def product(client: httpx.AsyncClient, boss: SignedUser, price: str, stock: int) -> int:
    created = await client.post("/products", json={"name": "Widget", "price": price, "stock": stock}, headers=boss.auth)
    assert created.status_code == 201, created.text
    return int(created.json()["product_id"])


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def test_deposits_and_transfers_keep_a_double_entry_ledger(client: httpx.AsyncClient) -> None:
    ada, bob = await funded(client, "100.00"), await sign_up(client)
    sent = await client.post("/transfers", json={"to_user_id": bob.user_id, "amount": "30.25"}, headers=ada.auth)
    assert sent.status_code == 201, sent.text
    assert sent.json() == {"user_id": ada.user_id, "balance": "69.75"}
    assert await balance(client, bob) == Decimal("30.25")
    history = (await client.get("/wallet/ledger", headers=ada.auth)).json()["items"]
    assert [(e["kind"], e["amount"]) for e in history] == [("transfer", "-30.25"), ("deposit", "100.00")]
    assert (await client.get("/wallet/ledger", headers=bob.auth)).json()["items"][0]["amount"] == "30.25"

    too_much = await client.post("/transfers", json={"to_user_id": bob.user_id, "amount": "70"}, headers=ada.auth)
    assert too_much.status_code == 409
    assert too_much.headers["content-type"] == PROBLEM
    assert "not enough money" in too_much.json()["detail"]
    assert await balance(client, ada) == Decimal("69.75")
    for body, status in (
        ({"to_user_id": ada.user_id, "amount": "1"}, 422),  # to myself
        ({"to_user_id": 10**9, "amount": "1"}, 404),
        ({"to_user_id": bob.user_id, "amount": "0.001"}, 422),
        ({"to_user_id": bob.user_id, "amount": "-5"}, 422),
        ({"to_user_id": bob.user_id, "amount": "NaN"}, 422),
    ):
        refused = await client.post("/transfers", json=body, headers=ada.auth)
        assert refused.status_code == status, (body, refused.text)
        assert refused.headers["content-type"] == PROBLEM
    assert await balance(client, ada) == Decimal("69.75")


async def test_an_order_takes_stock_and_money_at_once_or_not_at_all(client: httpx.AsyncClient, app: App) -> None:
    boss = await sign_up_admin(client, app)
    buyer = await funded(client, "50.00")
    widget, gadget = await product(client, boss, "10.00", 3), await product(client, boss, "25.00", 1)
    placed = await client.post(
        "/orders",
        json={"items": [{"product_id": widget, "quantity": 2}, {"product_id": gadget, "quantity": 1}]},
        headers=buyer.auth,
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["status"], order["total"]) == ("paid", "45.00")
    assert await balance(client, buyer) == Decimal("5.00")
    assert (await client.get(f"/products/{widget}", headers=buyer.auth)).json()["stock"] == 1

    for items, reason in (
        ([{"product_id": gadget, "quantity": 1}], "stock"),  # none left
        ([{"product_id": widget, "quantity": 1}], "money"),  # 10.00 > 5.00
    ):
        refused = await client.post("/orders", json={"items": items}, headers=buyer.auth)
        assert refused.status_code == 409, refused.text
        assert reason in refused.json()["detail"]
    assert await balance(client, buyer) == Decimal("5.00")
    assert (await client.get(f"/products/{widget}", headers=buyer.auth)).json()["stock"] == 1
    assert len((await client.get("/orders", headers=buyer.auth)).json()["items"]) == 1

    cancelled = await client.post(f"/orders/{order['order_id']}/cancel", headers=buyer.auth)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert await balance(client, buyer) == Decimal("50.00")
    assert (await client.get(f"/products/{gadget}", headers=buyer.auth)).json()["stock"] == 1
    again = await client.post(f"/orders/{order['order_id']}/cancel", headers=buyer.auth)
    assert again.status_code == 409

    second = (
        await client.post("/orders", json={"items": [{"product_id": gadget, "quantity": 1}]}, headers=buyer.auth)
    ).json()
    shipped = await client.post(f"/orders/{second['order_id']}/ship", headers=boss.auth)
    assert shipped.json()["status"] == "shipped"
    assert (await client.post(f"/orders/{second['order_id']}/cancel", headers=buyer.auth)).status_code == 409


async def test_a_seat_goes_to_one_booker(client: httpx.AsyncClient, app: App) -> None:
    boss = await sign_up_admin(client, app)
    created = await client.post(
        "/ticketed-events",
        json={"name": "Keynote", "starts_at": "2027-01-15T10:00:00Z", "seats": 3},
        headers=boss.auth,
    )
    assert created.status_code == 201, created.text
    event = created.json()["ticketed_event_id"]
    ada, bob = await sign_up(client), await sign_up(client)
    assert (await client.post(f"/ticketed-events/{event}/seats/2/booking", headers=ada.auth)).status_code == 201
    taken = await client.post(f"/ticketed-events/{event}/seats/2/booking", headers=bob.auth)
    assert taken.status_code == 409
    assert "booked already" in taken.json()["detail"]
    assert (await client.post(f"/ticketed-events/{event}/seats/9/booking", headers=bob.auth)).status_code == 404
    mine = (await client.get(f"/ticketed-events/{event}/seats", headers=ada.auth)).json()
    assert [(s["seat_no"], s["booked"], s["booked_by_me"]) for s in mine] == [
        (1, False, False),
        (2, True, True),
        (3, False, False),
    ]
    assert (await client.get(f"/ticketed-events/{event}", headers=bob.auth)).json()["free"] == 2
    for starts_at in ("0001-01-01T00:01:01+01:00", "2027-01-15T10:00:00"):
        bad = await client.post(
            "/ticketed-events", json={"name": "x", "starts_at": starts_at, "seats": 1}, headers=boss.auth
        )
        assert bad.status_code == 422, bad.text


async def test_a_cart_survives_losing_its_live_copy_and_checks_out(client: httpx.AsyncClient, app: App) -> None:
    boss = await sign_up_admin(client, app)
    buyer = await funded(client, "100.00")
    widget, gadget = await product(client, boss, "10.00", 5), await product(client, boss, "1.50", 5)
    for product_id, quantity in ((widget, 2), (gadget, 3), (widget, 1), (gadget, -3)):
        changed = await client.post(
            "/cart/items", json={"product_id": product_id, "quantity": quantity}, headers=buyer.auth
        )
        assert changed.status_code == 200, changed.text
    assert changed.json()["items"] == [{"product_id": widget, "quantity": 3}]
    await app.stores.keyvalue.wipe()  # Redis restarted empty (in postgres-only, its tables emptied): sessions go too
    login = await client.post("/auth/login", json={"email": buyer.email, "password": PASSWORD})
    buyer = SignedUser(buyer.user_id, buyer.email, login.json()["access_token"])
    assert (await client.get("/cart", headers=buyer.auth)).json()["items"] == [{"product_id": widget, "quantity": 3}]
    await app.relay.drain()  # the durable copy catches up: the same cart
    assert (await app.stores.relational.outbox_stats()).pending == 0  # every change applied, none failing
    await app.stores.keyvalue.wipe()
    login = await client.post("/auth/login", json={"email": buyer.email, "password": PASSWORD})
    buyer = SignedUser(buyer.user_id, buyer.email, login.json()["access_token"])
    assert (await client.get("/cart", headers=buyer.auth)).json()["items"] == [{"product_id": widget, "quantity": 3}]

    bought = await client.post("/cart/checkout", headers=buyer.auth)
    assert bought.status_code == 201, bought.text
    assert bought.json()["total"] == "30.00"
    assert (await client.get("/cart", headers=buyer.auth)).json()["items"] == []
    empty = await client.post("/cart/checkout", headers=buyer.auth)
    assert empty.status_code == 409
    assert await balance(client, buyer) == Decimal("70.00")
    await app.relay.drain()
    assert (await app.stores.relational.outbox_stats()).pending == 0
    async with app.stores.relational.transaction() as tx:
        assert await tx.carts.cart_snapshot(buyer.user_id) == {}
    unknown = await client.post("/cart/items", json={"product_id": 10**9, "quantity": 1}, headers=buyer.auth)
    assert unknown.status_code == 404


@pytest.mark.parametrize("endpoint", ["deposit", "transfer", "order", "cancel", "checkout", "booking"])
async def test_three_concurrent_posts_with_one_idempotency_key_have_one_effect(
    client: httpx.AsyncClient, app: App, endpoint: str
) -> None:
    boss = await sign_up_admin(client, app)
    buyer = await funded(client, "100.00")
    bob = await sign_up(client)
    widget = await product(client, boss, "10.00", 100)
    order = (
        await client.post("/orders", json={"items": [{"product_id": widget, "quantity": 1}]}, headers=buyer.auth)
    ).json()
    event = (
        await client.post(
            "/ticketed-events", json={"name": "E", "starts_at": "2027-01-01T00:00:00Z", "seats": 5}, headers=boss.auth
        )
    ).json()["ticketed_event_id"]
    await client.post("/cart/items", json={"product_id": widget, "quantity": 2}, headers=buyer.auth)
    path, body = {
        "deposit": ("/wallet/deposits", {"amount": "5.00"}),
        "transfer": ("/transfers", {"to_user_id": bob.user_id, "amount": "5.00"}),
        "order": ("/orders", {"items": [{"product_id": widget, "quantity": 3}]}),
        "cancel": (f"/orders/{order['order_id']}/cancel", None),
        "checkout": ("/cart/checkout", None),
        "booking": (f"/ticketed-events/{event}/seats/1/booking", None),
    }[endpoint]
    before = await balance(client, buyer)
    headers = {**buyer.auth, **key()}
    answers = await asyncio.gather(*(client.post(path, json=body, headers=headers) for _ in range(3)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(409) <= 2, [a.text for a in answers]
    assert all(s in (200, 201, 409) for s in statuses), [a.text for a in answers]
    # Once the first is done, the same request again replays its answer.
    replay = await client.post(path, json=body, headers=headers)
    assert replay.status_code in (200, 201), replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    first = next(a for a in answers if a.status_code in (200, 201))
    assert replay.json() == first.json()
    changed = await balance(client, buyer) - before
    expected = {
        "deposit": "5.00",
        "transfer": "-5.00",
        "order": "-30.00",
        "cancel": "10.00",
        "checkout": "-20.00",
        "booking": "0",
    }[endpoint]
    assert changed == Decimal(expected)
    if endpoint == "booking":
        seats = (await client.get(f"/ticketed-events/{event}/seats", headers=buyer.auth)).json()
        assert sum(s["booked"] for s in seats) == 1
    if endpoint in ("order", "checkout"):
        assert len((await client.get("/orders", headers=buyer.auth)).json()["items"]) == 2
    # The same key with another request is refused, and changes nothing.
    other_path, other_body = {
        "deposit": ("/wallet/deposits", {"amount": "6.00"}),
        "transfer": ("/transfers", {"to_user_id": bob.user_id, "amount": "6.00"}),
        "order": ("/orders", {"items": [{"product_id": widget, "quantity": 4}]}),
        "cancel": ("/wallet/deposits", {"amount": "1.00"}),
        "checkout": ("/orders", {"items": [{"product_id": widget, "quantity": 1}]}),
        "booking": (f"/ticketed-events/{event}/seats/2/booking", None),
    }[endpoint]
    reused = await client.post(other_path, json=other_body, headers=headers)
    assert reused.status_code == 409, reused.text
    assert "different request" in reused.json()["detail"]
    assert await balance(client, buyer) - before == Decimal(expected)


async def test_a_restock_with_one_key_counts_once(client: httpx.AsyncClient, app: App) -> None:
    boss = await sign_up_admin(client, app)
    widget = await product(client, boss, "1.00", 0)
    headers = {**boss.auth, **key()}
    answers = await asyncio.gather(
        *(client.post(f"/products/{widget}/restock", json={"quantity": 5}, headers=headers) for _ in range(3))
    )
    assert sorted(a.status_code for a in answers).count(200) >= 1, [a.text for a in answers]
    again = await client.post(f"/products/{widget}/restock", json={"quantity": 5}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true"
    assert (await client.get(f"/products/{widget}", headers=boss.auth)).json()["stock"] == 5
    missing = await client.post("/products/999999/restock", json={"quantity": 1}, headers=boss.auth)
    assert missing.status_code == 404


async def test_a_refusal_is_replayed_too(client: httpx.AsyncClient, app: App) -> None:
    boss = await sign_up_admin(client, app)
    buyer = await funded(client, "5.00")
    widget = await product(client, boss, "10.00", 1)
    headers = {**buyer.auth, **key()}
    body = {"items": [{"product_id": widget, "quantity": 1}]}
    first = await client.post("/orders", json=body, headers=headers)
    assert first.status_code == 409
    await client.post("/wallet/deposits", json={"amount": "20.00"}, headers=buyer.auth)
    again = await client.post("/orders", json=body, headers=headers)
    assert again.status_code == 409  # the same request, the same judgement: use a new key to try again
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["detail"] == first.json()["detail"]
    assert (await client.post("/orders", json=body, headers={**buyer.auth, **key()})).status_code == 201


async def test_the_customer_report_counts_recent_paid_orders(client: httpx.AsyncClient, app: App) -> None:
    boss = await sign_up_admin(client, app)
    big, small = await funded(client, "500.00"), await funded(client, "500.00")
    widget = await product(client, boss, "10.00", 100)
    for user, times in ((big, 6), (small, 2)):
        for _ in range(times):
            await client.post("/orders", json={"items": [{"product_id": widget, "quantity": 1}]}, headers=user.auth)
    report = await client.get("/admin/reports/customers", headers=boss.auth)
    assert report.status_code == 200
    assert report.json() == [{"email": big.email, "orders": 6, "total_spent": "60.00", "avg_order_value": "10.00"}]
    assert (await client.get("/admin/reports/customers", headers=big.auth)).status_code == 403
    everyone = (await client.get("/admin/reports/customers?min_orders=0", headers=boss.auth)).json()
    assert [r["email"] for r in everyone] == [big.email, small.email]
