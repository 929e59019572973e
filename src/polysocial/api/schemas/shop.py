"""The shop: products, orders, carts and the customer report."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from polysocial.api.schemas.common import JSON_INTEGER, Amount, Id, Label, NextCursor, OldNextNumber, Quantity, Strict
from polysocial.domain.shop import MAX_ORDER_LINES, MAX_QUANTITY, CustomerReportRow, Order, Product


class ProductCreate(Strict):
    name: Label
    price: Amount
    stock: Annotated[int, Field(ge=0, le=10_000_000), JSON_INTEGER]


class Restock(Strict):
    quantity: Annotated[int, Field(ge=1, le=10_000_000), JSON_INTEGER]


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
    next_after: OldNextNumber = None
    next_cursor: NextCursor = None


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
            order_id=order.order_id,
            user_id=order.user_id,
            total=order.total,
            status=order.status.value,
            created_at=order.created_at,
            items=[
                OrderLinePublic(product_id=i.product_id, quantity=i.quantity, unit_price=i.unit_price)
                for i in order.items
            ],
        )


class OrderPage(BaseModel):
    items: list[OrderPublic]
    next_before: OldNextNumber = None
    next_cursor: NextCursor = None


class CartChange(Strict):
    product_id: Id
    quantity: Annotated[
        int,
        Field(
            ge=-MAX_QUANTITY,
            le=MAX_QUANTITY,
            description="added (negative: removed); not 0",
            json_schema_extra={"not": {"const": 0}},
        ),
        JSON_INTEGER,
    ]


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
        return cls(email=row.email, orders=row.orders, total_spent=row.total_spent, avg_order_value=row.avg_order_value)
