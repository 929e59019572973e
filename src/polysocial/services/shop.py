"""The shop: products (administered), orders with stock and payment in one transaction, cancellation with refund
and restock, shipping, and the seed's customer report."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from polysocial.domain.consistency import ISOLATION, MAX_ATTEMPTS, Operation
from polysocial.domain.errors import NotFound
from polysocial.domain.shop import MAX_ORDER_LINES, MAX_QUANTITY, CustomerReportRow, Order, Product
from polysocial.domain.text import strip_blank
from polysocial.domain.wallet import InvalidAmount
from polysocial.services.idempotency import Idempotency, IdempotentRequest, Render, Reply, identity
from polysocial.stores.relational.protocol import RelationalStore, RelationalTx


def check_lines(lines: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    if not lines:
        raise InvalidAmount("an order has at least one item")
    if len(lines) > MAX_ORDER_LINES:
        raise InvalidAmount(f"an order has at most {MAX_ORDER_LINES} lines")
    for _, quantity in lines:
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidAmount(f"a quantity is 1 to {MAX_QUANTITY}")
    return list(lines)


async def _placed(tx: RelationalTx, order_id: int) -> Order:
    found = await tx.shop.order(order_id)
    assert found is not None  # written by this transaction
    return found


class Shop:
    """Products (administered), orders with stock and payment in one transaction, cancellation, the report."""

    def __init__(self, relational: RelationalStore, idempotency: Idempotency) -> None:
        self.relational = relational
        self.idempotency = idempotency

    async def create_product(self, name: str, price: Decimal, stock: int) -> Product:
        async with self.relational.transaction() as tx:
            return await tx.shop.create_product(strip_blank(name), price, stock)

    async def products(self, *, after: int, limit: int) -> list[Product]:
        async with self.relational.reading() as tx:
            return await tx.shop.products(after=after, limit=limit)

    async def product(self, product_id: int) -> Product:
        async with self.relational.reading() as tx:
            found = await tx.shop.product(product_id)
        if found is None:
            raise NotFound(f"product {product_id} does not exist")
        return found

    async def restock(
        self,
        admin: int,
        product_id: int,
        quantity: int,
        *,
        request: IdempotentRequest | None = None,
        render: Render = identity,
    ) -> Reply:
        async def work(tx: RelationalTx) -> Product:
            found = await tx.shop.restock(product_id, quantity)
            if found is None:
                raise NotFound(f"product {product_id} does not exist")
            return found

        return await self.idempotency.run(admin, request, Operation.RESTOCK, work, render)

    async def place_order(
        self,
        user_id: int,
        lines: Sequence[tuple[int, int]],
        *,
        request: IdempotentRequest | None = None,
        render: Render = identity,
    ) -> Reply:
        """Stock checked and reduced, the order created and the wallet charged, together or not at all."""
        checked = check_lines(lines)

        async def work(tx: RelationalTx) -> Order:
            return await _placed(tx, await tx.shop.place_order(user_id, checked))

        return await self.idempotency.run(user_id, request, Operation.PLACE_ORDER, work, render, status=201)

    async def orders(self, user_id: int, *, before: int | None, limit: int) -> list[Order]:
        async with self.relational.reading() as tx:
            return await tx.shop.orders(user_id, before=before, limit=limit)

    async def order(self, user_id: int, order_id: int) -> Order:
        """The order if it is the caller's; 404 alike for someone else's and for none (no probing of ids)."""
        async with self.relational.reading() as tx:
            found = await tx.shop.order(order_id)
        if found is None or found.user_id != user_id:
            raise NotFound(f"order {order_id} does not exist")
        return found

    async def cancel_order(
        self, user_id: int, order_id: int, *, request: IdempotentRequest | None = None, render: Render = identity
    ) -> Reply:
        """Cancel my paid order: the wallet is refunded and the stock restored."""

        async def work(tx: RelationalTx) -> Order:
            await tx.shop.cancel_order(user_id, order_id)
            return await _placed(tx, order_id)

        return await self.idempotency.run(user_id, request, Operation.CANCEL_ORDER, work, render)

    async def ship_order(self, order_id: int) -> Order:
        async def work(tx: RelationalTx) -> Order:
            await tx.shop.ship_order(order_id)
            return await _placed(tx, order_id)

        return await self.relational.run(work, isolation=ISOLATION[Operation.SHIP_ORDER], attempts=MAX_ATTEMPTS)

    async def customer_report(self, *, days: int, min_orders: int) -> list[CustomerReportRow]:
        # one statement: one consistent snapshot, which a read replica may give (a report may be a little stale)
        async with self.relational.reading(stale_ok=True) as tx:
            return await tx.shop.customer_report(days=days, min_orders=min_orders)
