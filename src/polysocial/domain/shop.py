"""The shop: products, stock, orders and their lines, the customer report, and the ways an order is refused."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from polysocial.domain.errors import Conflict

MAX_ORDER_LINES = 50
MAX_QUANTITY = 1_000


class OutOfStock(Conflict):
    title = "Out of stock"
    type_slug = "out-of-stock"


class OrderStateConflict(Conflict):
    title = "Order cannot change that way"
    type_slug = "order-state"


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


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
class CustomerReportRow:
    email: str
    orders: int
    total_spent: Decimal
    avg_order_value: Decimal
