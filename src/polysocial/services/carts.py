"""Hybrid carts (the seed's sketch, done right): the live cart is a Redis hash changed by an atomic HINCRBY per
item, never read-modify-written; every change is first an event in the PostgreSQL outbox, from which the relay keeps
a durable copy (cart_items), so a cart survives a Redis restart: a missing live cart is rebuilt from the durable
copy plus the changes still on their way. Checkout buys from that exact snapshot, under a per-cart lock, and empties
the cart by the same events (negative changes), so a change made meanwhile survives it."""

from __future__ import annotations

import contextlib
import uuid

from polysocial.domain.consistency import Operation
from polysocial.domain.errors import Conflict, NotFound
from polysocial.domain.events import cart_changed
from polysocial.domain.shop import Order
from polysocial.domain.wallet import InvalidAmount
from polysocial.logging import get_logger
from polysocial.services.idempotency import Idempotency, IdempotentRequest, Render, Reply, identity
from polysocial.services.shop import check_lines
from polysocial.stores.keyvalue.protocol import KeyValueStore
from polysocial.stores.relational.protocol import RelationalStore, RelationalTx

log = get_logger(__name__)

CART_TTL_S = 7 * 86_400


class EmptyCart(Conflict):
    title = "Empty cart"
    type_slug = "empty-cart"


class Carts:
    def __init__(self, relational: RelationalStore, keyvalue: KeyValueStore, idempotency: Idempotency) -> None:
        self.relational = relational
        self.keyvalue = keyvalue
        self.idempotency = idempotency

    async def change(self, user_id: int, product_id: int, delta: int) -> dict[int, int]:
        """Add (or, negative, remove) ``delta`` of a product; the cart after it."""
        if delta == 0:
            raise InvalidAmount("a cart change adds or removes at least one")
        async with self.relational.transaction() as tx:
            if await tx.shop.product(product_id) is None:
                raise NotFound(f"product {product_id} does not exist")
            await tx.outbox.add([cart_changed(user_id, product_id, delta)])
        # After the commit: if this is lost, the live cart lags until its next rebuild; checkout reads the events.
        await self.keyvalue.cart_add(user_id, product_id, delta, ttl_s=CART_TTL_S)
        return await self.view(user_id)

    async def view(self, user_id: int) -> dict[int, int]:
        live = await self.keyvalue.cart_get(user_id)
        if live is not None:
            return live
        async with self.relational.transaction() as tx:
            lines = await tx.carts.cart_snapshot(user_id)
        await self.keyvalue.cart_put(user_id, lines, ttl_s=CART_TTL_S)
        return lines

    async def checkout(
        self, user_id: int, *, request: IdempotentRequest | None = None, render: Render = identity
    ) -> Reply:
        """Turn the cart into an order (as Shop.place_order) and empty it."""
        keyvalue = self.keyvalue

        async def work(tx: RelationalTx) -> Order:
            lines = await tx.carts.cart_snapshot(user_id, lock=True)
            if not lines:
                raise EmptyCart("the cart is empty")
            order_id = await tx.shop.place_order(user_id, check_lines(sorted(lines.items())))
            await tx.outbox.add([cart_changed(user_id, p, -q) for p, q in sorted(lines.items())])

            async def empty_live_cart() -> None:
                with contextlib.suppress(Exception):  # the order stands; the live cart catches up at its next rebuild
                    for product_id, quantity in lines.items():
                        await keyvalue.cart_add(user_id, product_id, -quantity, ttl_s=CART_TTL_S)

            tx.after_commit(empty_live_cart)
            placed = await tx.shop.order(order_id)
            assert placed is not None  # written by this transaction
            return placed

        return await self.idempotency.run(user_id, request, Operation.PLACE_ORDER, work, render, status=201)


async def apply_durable(
    relational: RelationalStore, event_id: uuid.UUID, user_id: int, product_id: int, delta: int
) -> None:
    """The relay's handler: the change reaches the durable copy once (recorded in the same transaction)."""
    async with relational.transaction() as tx:
        await tx.carts.apply_cart_delta(event_id, user_id, product_id, delta)
