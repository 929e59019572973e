"""Money and commerce use cases. Each runs in one PostgreSQL transaction at the isolation its operation needs
(domain/consistency.py), retried on serialization failure and deadlock; the rules live in the database (CHECK
constraints, the money functions) so that no code path can break them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from polysocial.domain.commerce import (
    MAX_ORDER_LINES,
    MAX_QUANTITY,
    MAX_SEATS,
    InvalidAmount,
    Order,
    SelfTransfer,
    amount,
)
from polysocial.domain.consistency import ISOLATION, MAX_ATTEMPTS, Operation
from polysocial.domain.errors import NotFound
from polysocial.stores.relational.protocol import RelationalStore, RelationalTx

T = TypeVar("T")


async def run(relational: RelationalStore, operation: Operation, work: Callable[[RelationalTx], Awaitable[T]]) -> T:
    return await relational.run(work, isolation=ISOLATION[operation], attempts=MAX_ATTEMPTS)


def check_lines(lines: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    if not lines:
        raise InvalidAmount("an order has at least one item")
    if len(lines) > MAX_ORDER_LINES:
        raise InvalidAmount(f"an order has at most {MAX_ORDER_LINES} lines")
    for _, quantity in lines:
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidAmount(f"a quantity is 1 to {MAX_QUANTITY}")
    return list(lines)


# -- work units: each takes the open transaction (the idempotency layer runs them with its own record) -------------


def deposit_work(user_id: int, value: Decimal) -> Callable[[RelationalTx], Awaitable[Decimal]]:
    checked = amount(value)

    async def work(tx: RelationalTx) -> Decimal:
        return await tx.deposit(user_id, checked)

    return work


def transfer_work(from_user: int, to_user: int, value: Decimal) -> Callable[[RelationalTx], Awaitable[Decimal]]:
    checked = amount(value)
    if from_user == to_user:
        raise SelfTransfer("you cannot transfer money to yourself")

    async def work(tx: RelationalTx) -> Decimal:
        return await tx.transfer(from_user, to_user, checked)

    return work


def order_work(user_id: int, lines: Sequence[tuple[int, int]]) -> Callable[[RelationalTx], Awaitable[Order]]:
    checked = check_lines(lines)

    async def work(tx: RelationalTx) -> Order:
        order_id = await tx.place_order(user_id, checked)
        placed = await tx.order(order_id)
        assert placed is not None
        return placed

    return work


def cancel_work(user_id: int, order_id: int) -> Callable[[RelationalTx], Awaitable[Order]]:
    async def work(tx: RelationalTx) -> Order:
        await tx.cancel_order(user_id, order_id)
        cancelled = await tx.order(order_id)
        assert cancelled is not None
        return cancelled

    return work


def booking_work(event_id: int, seat_no: int, user_id: int) -> Callable[[RelationalTx], Awaitable[int]]:
    async def work(tx: RelationalTx) -> int:
        await tx.book_seat(event_id, seat_no, user_id)
        return seat_no

    return work


# -- reads and administration ---------------------------------------------------------------------------------------


async def own_order(relational: RelationalStore, user_id: int, order_id: int) -> Order:
    """The order if it is the caller's; 404 alike for someone else's and for none (no probing of ids)."""
    async with relational.transaction() as tx:
        found = await tx.order(order_id)
    if found is None or found.user_id != user_id:
        raise NotFound(f"order {order_id} does not exist")
    return found


async def ship(relational: RelationalStore, order_id: int) -> Order:
    async def work(tx: RelationalTx) -> Order:
        await tx.ship_order(order_id)
        shipped = await tx.order(order_id)
        assert shipped is not None
        return shipped

    return await run(relational, Operation.SHIP_ORDER, work)


async def create_ticketed_event(relational: RelationalStore, name: str, starts_at: datetime, seats: int) -> int:
    if not 1 <= seats <= MAX_SEATS:
        raise InvalidAmount(f"an event has 1 to {MAX_SEATS} seats")
    async with relational.transaction() as tx:
        return await tx.create_ticketed_event(name, starts_at, seats)
