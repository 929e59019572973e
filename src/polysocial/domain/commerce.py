"""Money and commerce: wallets, transfers, the shop, seat booking, carts. Amounts are Decimal with two places, never
floats; the database holds them as NUMERIC and refuses a negative balance or stock whatever the code does."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from polysocial.domain.errors import Conflict, DomainError

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000.00")  # one movement; a sane limit, not a rule of accounting
MAX_ORDER_LINES = 50
MAX_QUANTITY = 1_000
MAX_SEATS = 10_000


class InvalidAmount(DomainError):
    status = 422
    title = "Invalid amount"
    type_slug = "invalid-amount"


def amount(value: Decimal) -> Decimal:
    """A positive amount of at most two decimal places and at most MAX_AMOUNT."""
    if not value.is_finite() or value <= 0:
        raise InvalidAmount("an amount must be greater than zero")
    if value != value.quantize(CENT):
        raise InvalidAmount("an amount has at most two decimal places")
    if value > MAX_AMOUNT:
        raise InvalidAmount(f"an amount is at most {MAX_AMOUNT}")
    return value.quantize(CENT)


class InsufficientFunds(Conflict):
    title = "Insufficient funds"
    type_slug = "insufficient-funds"


class OutOfStock(Conflict):
    title = "Out of stock"
    type_slug = "out-of-stock"


class SeatTaken(Conflict):
    title = "Seat already booked"
    type_slug = "seat-taken"


class OrderStateConflict(Conflict):
    title = "Order cannot change that way"
    type_slug = "order-state"


class SelfTransfer(DomainError):
    status = 422
    title = "Cannot transfer to yourself"
    type_slug = "self-transfer"


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    entry_id: int
    movement_id: str
    amount: Decimal  # signed: negative leaves the wallet
    kind: str
    reference: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Product:
    product_id: int
    name: str
    price: Decimal
    stock: int


@dataclass(frozen=True, slots=True)
class OrderLine:
    product_id: int
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Order:
    order_id: int
    user_id: int
    total: Decimal
    status: OrderStatus
    created_at: datetime
    items: tuple[OrderLine, ...]


@dataclass(frozen=True, slots=True)
class Seat:
    seat_no: int
    booked: bool
    booked_by_me: bool


@dataclass(frozen=True, slots=True)
class TicketedEvent:
    ticketed_event_id: int
    name: str
    starts_at: datetime
    seats: int
    free: int


@dataclass(frozen=True, slots=True)
class CustomerReportRow:
    email: str
    orders: int
    total_spent: Decimal
    avg_order_value: Decimal
