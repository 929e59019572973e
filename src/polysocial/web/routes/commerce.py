"""The wallet, the shop (catalogue, cart, checkout, orders) and events with seats.

Every form that moves money, stock or a seat carries an idempotency key made when the page was drawn: sending the
same form twice (a double click, a reload that re-posts) is one effect, and the second answer says so."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import Response

from polysocial.api.schemas.common import MAX_ID
from polysocial.api.schemas.seats import TicketedEventCreate
from polysocial.api.schemas.shop import CartChange
from polysocial.api.schemas.wallet import DepositCreate, TransferCreate
from polysocial.domain.seats import MAX_SEATS, SeatTaken
from polysocial.domain.shop import OutOfStock
from polysocial.services.idempotency import identity
from polysocial.web.pages import (
    PageRoute,
    ViewerDep,
    back,
    idempotent_form,
    redirect,
    render,
    replayed_notice,
    services_of,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False, prefix="/web")

PAGE = 20
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
After = Annotated[int, Query(ge=0, le=MAX_ID)]
BeforeId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Key = Annotated[str, Form(min_length=1, max_length=200, alias="idempotency_key")]
AmountField = Annotated[str, Form(max_length=40)]


# -- the wallet -------------------------------------------------------------------------------------------------


@router.get("/wallet")
async def wallet(
    request: Request,
    viewer: ViewerDep,
    before: BeforeId = None,
    to: Annotated[int | None, Query(ge=1, le=MAX_ID, description="prefill the transfer form")] = None,
) -> Response:
    services = services_of(request)
    balance, entries = await asyncio.gather(
        services.wallet.balance(viewer.user_id),
        services.wallet.ledger(viewer.user_id, before=before, limit=PAGE),
    )
    next_before = entries[-1].entry_id if len(entries) == PAGE else None
    return render(
        request, "wallet.html", balance=balance, entries=entries, next_before=next_before, before=before, to=to
    )


@router.post("/wallet/deposit")
async def deposit(request: Request, viewer: ViewerDep, amount: AmountField, key: Key) -> Response:
    body = DepositCreate.model_validate({"amount": amount.strip()})
    reply = await services_of(request).wallet.deposit(
        viewer.user_id, body.amount, request=idempotent_form(request, key, {"amount": str(body.amount)}), render=str
    )
    notice, error = replayed_notice(reply, f"Deposited {body.amount:,.2f}. Your balance is {reply.body}.")
    return redirect(request, "/web/wallet", notice=notice, error=error)


@router.post("/wallet/transfer")
async def transfer(
    request: Request,
    viewer: ViewerDep,
    to_user_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    amount: AmountField,
    key: Key,
) -> Response:
    body = TransferCreate.model_validate({"to_user_id": to_user_id, "amount": amount.strip()})
    form = {"to_user_id": body.to_user_id, "amount": str(body.amount)}
    reply = await services_of(request).wallet.transfer(
        viewer.user_id, body.to_user_id, body.amount, request=idempotent_form(request, key, form), render=str
    )
    done = f"Sent {body.amount:,.2f} to user {body.to_user_id}. Your balance is {reply.body}."
    notice, error = replayed_notice(reply, done)
    return redirect(request, "/web/wallet", notice=notice, error=error)


# -- the shop ---------------------------------------------------------------------------------------------------


@router.get("/shop")
async def shop(request: Request, viewer: ViewerDep, after: After = 0) -> Response:
    services = services_of(request)
    products, cart = await asyncio.gather(
        services.shop.products(after=after, limit=PAGE), services.carts.view(viewer.user_id)
    )
    next_after = products[-1].product_id if len(products) == PAGE else None
    return render(request, "shop.html", products=products, cart=cart, next_after=next_after)


@router.post("/cart/items")
async def change_cart(
    request: Request,
    viewer: ViewerDep,
    product_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    quantity: Annotated[int, Form(ge=-1000, le=1000)],
) -> Response:
    body = CartChange.model_validate({"product_id": product_id, "quantity": quantity})
    await services_of(request).carts.change(viewer.user_id, body.product_id, body.quantity)
    what = "Added to" if body.quantity > 0 else "Removed from"
    return redirect(request, back(request, "/web/cart"), notice=f"{what} your cart.")


@router.get("/cart")
async def cart(request: Request, viewer: ViewerDep) -> Response:
    services = services_of(request)
    lines = await services.carts.view(viewer.user_id)
    products = await asyncio.gather(*(services.shop.product(p) for p in sorted(lines)))
    rows = [(p, lines[p.product_id]) for p in products]
    total = sum((p.price * quantity for p, quantity in rows), start=0)
    return render(request, "cart.html", rows=rows, total=total)


@router.post("/cart/checkout")
async def checkout(request: Request, viewer: ViewerDep, key: Key) -> Response:
    try:
        reply = await services_of(request).carts.checkout(
            viewer.user_id, request=idempotent_form(request, key, {}), render=lambda order: order.order_id
        )
    except OutOfStock as exc:
        return redirect(request, "/web/cart", error=f"Out of stock: {exc.detail}. Nothing was ordered or charged.")
    notice, error = replayed_notice(reply, f"Order {reply.body} is placed and paid.")
    return redirect(request, "/web/orders" if error is None else "/web/cart", notice=notice, error=error)


@router.get("/orders")
async def orders(request: Request, viewer: ViewerDep, before: BeforeId = None) -> Response:
    services = services_of(request)
    found = await services.shop.orders(viewer.user_id, before=before, limit=PAGE)
    ids = sorted({line.product_id for order in found for line in order.items})
    products = {p.product_id: p for p in await asyncio.gather(*(services.shop.product(i) for i in ids))}
    next_before = found[-1].order_id if len(found) == PAGE else None
    return render(request, "orders.html", orders=found, products=products, next_before=next_before)


@router.post("/orders/{order_id}/cancel")
async def cancel(request: Request, viewer: ViewerDep, order_id: Id, key: Key) -> Response:
    reply = await services_of(request).shop.cancel_order(
        viewer.user_id, order_id, request=idempotent_form(request, key, {}), render=lambda order: order.order_id
    )
    notice, error = replayed_notice(reply, f"Order {order_id} is cancelled: refunded and restocked.")
    return redirect(request, "/web/orders", notice=notice, error=error)


# -- events and seats -------------------------------------------------------------------------------------------


@router.get("/events")
async def events(request: Request, viewer: ViewerDep, after: After = 0) -> Response:
    found = await services_of(request).seats.events(after=after, limit=PAGE)
    next_after = found[-1].ticketed_event_id if len(found) == PAGE else None
    return render(request, "events.html", events=found, next_after=next_after)


@router.get("/events/{event_id}")
async def event(request: Request, viewer: ViewerDep, event_id: Id) -> Response:
    services = services_of(request)
    found, seats = await asyncio.gather(
        services.seats.event(event_id), services.seats.seat_map(event_id, viewer.user_id)
    )
    return render(request, "event.html", event=found, seats=seats)


@router.post("/events/{event_id}/seats/{seat_no}/book")
async def book(
    request: Request,
    viewer: ViewerDep,
    event_id: Id,
    seat_no: Annotated[int, Path(ge=1, le=MAX_SEATS)],
    key: Key,
) -> Response:
    try:
        reply = await services_of(request).seats.book(
            viewer.user_id, event_id, seat_no, request=idempotent_form(request, key, {}), render=identity
        )
    except SeatTaken:
        taken = f"Someone else booked seat {seat_no} first. Please pick another seat."
        return redirect(request, f"/web/events/{event_id}", error=taken)
    notice, error = replayed_notice(reply, f"Seat {seat_no} is yours.")
    return redirect(request, f"/web/events/{event_id}", notice=notice, error=error)


# -- administrators: products, stock, events ----------------------------------------------------------------------
# (the forms are on the administrators' page, routes/admin.py)


def event_form(name: str, starts_at: str, seats: int) -> TicketedEventCreate:
    """A datetime-local field has no zone: the form's times are UTC, as the page says."""
    moment = starts_at.strip()
    if moment and "+" not in moment[10:] and not moment.endswith("Z"):
        moment += "Z"
    return TicketedEventCreate.model_validate({"name": name, "starts_at": moment, "seats": seats})
