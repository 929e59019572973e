"""Request and response bodies of the money side. Amounts travel as decimal strings ("12.50"); numbers are accepted
in requests, but never more than two decimal places."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from polysocial.api.schemas import Strict, has_text, storable
from polysocial.domain.commerce import (
    MAX_AMOUNT,
    MAX_ORDER_LINES,
    MAX_QUANTITY,
    MAX_SEATS,
    CustomerReportRow,
    LedgerEntry,
    Order,
    Product,
    Seat,
    TicketedEvent,
)

Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(storable), AfterValidator(has_text)]
Amount = Annotated[Decimal, Field(gt=0, le=MAX_AMOUNT, decimal_places=2, max_digits=9, examples=["25.00"])]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


class DepositCreate(Strict):
    amount: Amount


class TransferCreate(Strict):
    to_user_id: Id
    amount: Amount


class WalletPublic(BaseModel):
    user_id: int
    balance: Decimal


class LedgerEntryPublic(BaseModel):
    entry_id: int
    movement_id: str
    amount: Decimal = Field(description="negative when money left the wallet")
    kind: str
    reference: str
    created_at: datetime

    @classmethod
    def of(cls, entry: LedgerEntry) -> LedgerEntryPublic:
        return cls(
            entry_id=entry.entry_id, movement_id=entry.movement_id, amount=entry.amount, kind=entry.kind,
            reference=entry.reference, created_at=entry.created_at,
        )  # fmt: skip


class LedgerPage(BaseModel):
    items: list[LedgerEntryPublic]
    next_before: int | None


class ProductCreate(Strict):
    name: Name
    price: Amount
    stock: Annotated[int, Field(ge=0, le=10_000_000)]


class Restock(Strict):
    quantity: Annotated[int, Field(ge=1, le=10_000_000)]


class ProductPublic(BaseModel):
    product_id: int
    name: str
    price: Decimal
    stock: int

    @classmethod
    def of(cls, product: Product) -> ProductPublic:
        return cls(product_id=product.product_id, name=product.name, price=product.price, stock=product.stock)


class ProductPage(BaseModel):
    items: list[ProductPublic]
    next_after: int | None


class OrderLineCreate(Strict):
    product_id: Id
    quantity: Quantity


class OrderCreate(Strict):
    items: Annotated[list[OrderLineCreate], Field(min_length=1, max_length=MAX_ORDER_LINES)]


class OrderLinePublic(BaseModel):
    product_id: int
    quantity: int
    unit_price: Decimal


class OrderPublic(BaseModel):
    order_id: int
    user_id: int
    total: Decimal
    status: str
    created_at: datetime
    items: list[OrderLinePublic]

    @classmethod
    def of(cls, order: Order) -> OrderPublic:
        return cls(
            order_id=order.order_id, user_id=order.user_id, total=order.total, status=order.status.value,
            created_at=order.created_at,
            items=[OrderLinePublic(product_id=i.product_id, quantity=i.quantity, unit_price=i.unit_price)
                   for i in order.items],
        )  # fmt: skip


class OrderPage(BaseModel):
    items: list[OrderPublic]
    next_before: int | None


def _sane_moment(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone (2027-01-15T10:00:00Z)")
    if not datetime(2000, 1, 1, tzinfo=UTC) <= value <= datetime(2200, 1, 1, tzinfo=UTC):
        raise ValueError("must be between 2000 and 2200")
    return value


class TicketedEventCreate(Strict):
    name: Name
    starts_at: Annotated[datetime, AfterValidator(_sane_moment)]
    seats: Annotated[int, Field(ge=1, le=MAX_SEATS)]


class TicketedEventPublic(BaseModel):
    ticketed_event_id: int
    name: str
    starts_at: datetime
    seats: int
    free: int

    @classmethod
    def of(cls, event: TicketedEvent) -> TicketedEventPublic:
        return cls(
            ticketed_event_id=event.ticketed_event_id, name=event.name, starts_at=event.starts_at,
            seats=event.seats, free=event.free,
        )  # fmt: skip


class SeatPublic(BaseModel):
    seat_no: int
    booked: bool
    booked_by_me: bool

    @classmethod
    def of(cls, seat: Seat) -> SeatPublic:
        return cls(seat_no=seat.seat_no, booked=seat.booked, booked_by_me=seat.booked_by_me)


class Booking(BaseModel):
    ticketed_event_id: int
    seat_no: int
    booked_by_me: bool = True


class CartChange(Strict):
    product_id: Id
    quantity: Annotated[int, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY, description="added (negative: removed)")]


class CartLine(BaseModel):
    product_id: int
    quantity: int


class CartPublic(BaseModel):
    items: list[CartLine]


class CustomerReportRowPublic(BaseModel):
    email: str
    orders: int
    total_spent: Decimal
    avg_order_value: Decimal

    @classmethod
    def of(cls, row: CustomerReportRow) -> CustomerReportRowPublic:
        return cls(email=row.email, orders=row.orders, total_spent=row.total_spent,
                   avg_order_value=row.avg_order_value)  # fmt: skip
