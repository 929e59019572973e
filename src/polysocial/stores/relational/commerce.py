"""Money and commerce on PostgreSQL: the verbs of an open transaction (mixed into PostgresTx). The money operations
are SQL functions (schema.py, migration 5): one round trip each, and their rules in the database."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection, errors, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from polysocial.domain.commerce import (
    CustomerReportRow,
    InsufficientFunds,
    LedgerEntry,
    Order,
    OrderLine,
    OrderStateConflict,
    OrderStatus,
    OutOfStock,
    Product,
    Seat,
    SeatTaken,
    TicketedEvent,
)
from polysocial.domain.errors import DomainError, NotFound
from polysocial.domain.idempotency import IdempotencyRecord

IDEMPOTENCY_TTL_S = 24 * 3600


def _rule_broken(exc: errors.RaiseException, subject: str) -> DomainError:
    """The domain error for a rule a money function refused (RAISE EXCEPTION 'rule')."""
    rule = exc.diag.message_primary or ""
    detail = exc.diag.message_detail or ""
    if rule == "insufficient_funds":
        return InsufficientFunds(f"not enough money in the wallet for {subject}")
    if rule == "out_of_stock":
        return OutOfStock(f"product {detail} does not have enough stock for {subject}")
    if rule == "no_such_product":
        return NotFound(f"a product in {subject} does not exist")
    if rule == "no_such_user":
        return NotFound(f"a user in {subject} does not exist")
    if rule == "no_such_order":
        return NotFound(f"{subject} does not exist")
    if rule == "not_cancellable":
        return OrderStateConflict(f"{subject} is {detail}: only a paid order can be cancelled")
    return DomainError(rule)


class CommerceTxMixin:
    conn: AsyncConnection[Any]

    async def _rows(self, query: str | sql.Composed, params: Sequence[Any] | dict[str, Any]) -> list[dict[str, Any]]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()

    async def _scalar(self, query: str, params: Sequence[Any], subject: str) -> Any:
        try:
            async with self.conn.transaction():  # a savepoint: a refused operation leaves the transaction usable
                cur = await self.conn.execute(query, params)
                row = await cur.fetchone()
        except errors.RaiseException as exc:
            raise _rule_broken(exc, subject) from exc
        return row[0] if row else None

    # -- wallets --------------------------------------------------------------------------------------------------

    async def deposit(self, user_id: int, amount: Decimal) -> Decimal:
        return Decimal(
            await self._scalar("SELECT money_deposit(%s, %s, %s)", (user_id, amount, uuid.uuid4()), "the deposit")
        )

    async def transfer(self, from_user: int, to_user: int, amount: Decimal) -> Decimal:
        """Move ``amount``; the payer's balance after it."""
        query = "SELECT money_transfer(%s, %s, %s, %s)"
        return Decimal(await self._scalar(query, (from_user, to_user, amount, uuid.uuid4()), "the transfer"))

    async def balance(self, user_id: int) -> Decimal | None:
        rows = await self._rows("SELECT balance FROM users WHERE user_id = %s", (user_id,))
        return Decimal(rows[0]["balance"]) if rows else None

    async def ledger(self, user_id: int, *, before: int | None, limit: int) -> list[LedgerEntry]:
        rows = await self._rows(
            "SELECT entry_id, movement_id, amount, kind, reference, created_at FROM ledger_entries "
            "WHERE user_id = %s AND entry_id < %s ORDER BY entry_id DESC LIMIT %s",
            (user_id, before if before is not None else 2**63 - 1, limit),
        )
        return [
            LedgerEntry(r["entry_id"], str(r["movement_id"]), r["amount"], r["kind"], r["reference"] or "",
                        r["created_at"])
            for r in rows
        ]  # fmt: skip

    # -- the shop ---------------------------------------------------------------------------------------------------

    async def create_product(self, name: str, price: Decimal, stock: int) -> Product:
        rows = await self._rows(
            "INSERT INTO products (name, price, stock) VALUES (%s, %s, %s) RETURNING product_id, name, price, stock",
            (name, price, stock),
        )
        return Product(**rows[0])

    async def product(self, product_id: int) -> Product | None:
        rows = await self._rows(
            "SELECT product_id, name, price, stock FROM products WHERE product_id = %s", (product_id,)
        )
        return Product(**rows[0]) if rows else None

    async def products(self, *, after: int, limit: int) -> list[Product]:
        rows = await self._rows(
            "SELECT product_id, name, price, stock FROM products WHERE product_id > %s ORDER BY product_id LIMIT %s",
            (after, limit),
        )
        return [Product(**r) for r in rows]

    async def restock(self, product_id: int, quantity: int) -> Product | None:
        rows = await self._rows(
            "UPDATE products SET stock = stock + %s WHERE product_id = %s RETURNING product_id, name, price, stock",
            (quantity, product_id),
        )
        return Product(**rows[0]) if rows else None

    async def place_order(self, user_id: int, lines: Sequence[tuple[int, int]]) -> int:
        query = "SELECT shop_place_order(%s, %s, %s, %s)"
        params = (user_id, [p for p, _ in lines], [q for _, q in lines], uuid.uuid4())
        return int(await self._scalar(query, params, "this order"))

    async def cancel_order(self, user_id: int, order_id: int) -> None:
        await self._scalar(
            "SELECT shop_cancel_order(%s, %s, %s)", (user_id, order_id, uuid.uuid4()), f"order {order_id}"
        )

    async def ship_order(self, order_id: int) -> None:
        rows = await self._rows("SELECT status FROM orders WHERE order_id = %s FOR UPDATE", (order_id,))
        if not rows:
            raise NotFound(f"order {order_id} does not exist")
        if rows[0]["status"] != OrderStatus.PAID:
            raise OrderStateConflict(f"order {order_id} is {rows[0]['status']}: only a paid order can be shipped")
        await self.conn.execute(
            "UPDATE orders SET status = 'shipped', updated_at = now() WHERE order_id = %s", (order_id,)
        )

    async def order(self, order_id: int) -> Order | None:
        found = await self._orders(sql.SQL("o.order_id = %s"), (order_id,), limit=1)
        return found[0] if found else None

    async def orders(self, user_id: int, *, before: int | None, limit: int) -> list[Order]:
        where = sql.SQL("o.user_id = %s AND o.order_id < %s")
        return await self._orders(where, (user_id, before if before is not None else 2**63 - 1), limit=limit)

    async def _orders(self, where: sql.SQL, params: tuple[Any, ...], *, limit: int) -> list[Order]:
        query = sql.SQL(
            "SELECT o.order_id, o.user_id, o.total, o.status, o.created_at, "
            "       coalesce(jsonb_agg(jsonb_build_array(i.product_id, i.quantity, i.unit_price::text) "
            "                ORDER BY i.product_id) FILTER (WHERE i.order_id IS NOT NULL), '[]') AS items "
            "FROM orders o LEFT JOIN order_items i USING (order_id) WHERE {} "
            "GROUP BY o.order_id ORDER BY o.order_id DESC LIMIT %s"
        ).format(where)
        rows = await self._rows(query, (*params, limit))
        return [
            Order(r["order_id"], r["user_id"], r["total"], OrderStatus(r["status"]), r["created_at"],
                  tuple(OrderLine(int(p), int(q), Decimal(u)) for p, q, u in r["items"]))
            for r in rows
        ]  # fmt: skip

    async def customer_report(self, *, days: int, min_orders: int) -> list[CustomerReportRow]:
        # The seed's report, with its bug fixed: a WHERE on the LEFT JOINed table made it an inner join; the date
        # condition belongs in the join, and cancelled orders are not spending.
        rows = await self._rows(
            "SELECT u.email, count(o.order_id) AS orders, coalesce(sum(o.total), 0) AS total_spent, "
            "       coalesce(round(avg(o.total), 2), 0) AS avg_order_value "
            "FROM users u LEFT JOIN orders o ON o.user_id = u.user_id "
            "  AND o.created_at >= now() - make_interval(days => %s) AND o.status <> 'cancelled' "
            "GROUP BY u.user_id, u.email HAVING count(o.order_id) > %s "
            "ORDER BY total_spent DESC, u.email LIMIT 1000",
            (days, min_orders),
        )
        return [CustomerReportRow(r["email"], r["orders"], r["total_spent"], r["avg_order_value"]) for r in rows]

    # -- seats ----------------------------------------------------------------------------------------------------

    async def create_ticketed_event(self, name: str, starts_at: datetime, seats: int) -> int:
        rows = await self._rows(
            "INSERT INTO ticketed_events (name, starts_at) VALUES (%s, %s) RETURNING ticketed_event_id",
            (name, starts_at),
        )
        event_id = int(rows[0]["ticketed_event_id"])
        await self.conn.execute(
            "INSERT INTO seats (ticketed_event_id, seat_no) SELECT %s, g FROM generate_series(1, %s) g",
            (event_id, seats),
        )
        return event_id

    async def ticketed_event(self, event_id: int) -> TicketedEvent | None:
        rows = await self._rows(
            "SELECT e.ticketed_event_id, e.name, e.starts_at, count(s.seat_no) AS seats, "
            "       count(s.seat_no) FILTER (WHERE s.booked_by IS NULL) AS free "
            "FROM ticketed_events e LEFT JOIN seats s USING (ticketed_event_id) "
            "WHERE e.ticketed_event_id = %s GROUP BY e.ticketed_event_id",
            (event_id,),
        )
        return TicketedEvent(**rows[0]) if rows else None

    async def seats(self, event_id: int, viewer: int) -> list[Seat]:
        rows = await self._rows(
            "SELECT seat_no, booked_by FROM seats WHERE ticketed_event_id = %s ORDER BY seat_no", (event_id,)
        )
        return [Seat(r["seat_no"], r["booked_by"] is not None, r["booked_by"] == viewer) for r in rows]

    async def book_seat(self, event_id: int, seat_no: int, user_id: int) -> None:
        """The seed's booking: lock the seat row, check, update (under the isolation the caller chose)."""
        rows = await self._rows(
            "SELECT booked_by FROM seats WHERE ticketed_event_id = %s AND seat_no = %s FOR UPDATE",
            (event_id, seat_no),
        )
        if not rows:
            raise NotFound(f"seat {seat_no} of event {event_id} does not exist")
        if rows[0]["booked_by"] is not None:
            raise SeatTaken(f"seat {seat_no} of event {event_id} is booked already")
        await self.conn.execute(
            "UPDATE seats SET booked_by = %s, booked_at = now() WHERE ticketed_event_id = %s AND seat_no = %s",
            (user_id, event_id, seat_no),
        )

    # -- the durable copy of carts ----------------------------------------------------------------------------------

    async def apply_cart_delta(self, event_id: uuid.UUID, user_id: int, product_id: int, delta: int) -> int | None:
        """Add ``delta`` to the durable cart line once per event; the line's quantity after it (0: gone), or None
        when this event was applied before."""
        fresh = await self._rows(
            "INSERT INTO cart_deltas_applied (event_id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING event_id",
            (event_id,),
        )
        if not fresh:
            return None
        if delta > 0:
            rows = await self._rows(
                "INSERT INTO cart_items AS c (user_id, product_id, quantity) VALUES (%s, %s, %s) "
                "ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = c.quantity + excluded.quantity, "
                "updated_at = now() RETURNING quantity",
                (user_id, product_id, delta),
            )
            return int(rows[0]["quantity"])
        # A removal: the line shrinks, or goes when nothing would be left (quantity > 0 is a CHECK).
        rows = await self._rows(
            "UPDATE cart_items SET quantity = quantity + %s, updated_at = now() "
            "WHERE user_id = %s AND product_id = %s AND quantity + %s > 0 RETURNING quantity",
            (delta, user_id, product_id, delta),
        )
        if rows:
            return int(rows[0]["quantity"])
        await self.conn.execute("DELETE FROM cart_items WHERE user_id = %s AND product_id = %s", (user_id, product_id))
        return 0

    async def cart_snapshot(self, user_id: int, *, lock: bool = False) -> dict[int, int]:
        """The cart as its events say: the durable copy plus the changes the relay has not applied yet. With
        ``lock``, checkouts of this cart take turns until the transaction ends."""
        if lock:
            await self.conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('cart', %s))", (user_id,))
        rows = await self._rows(
            "SELECT product_id, sum(quantity)::integer AS quantity FROM ("
            "  SELECT product_id, quantity FROM cart_items WHERE user_id = %(u)s"
            "  UNION ALL"
            "  SELECT (payload ->> 'product_id')::bigint, (payload ->> 'delta')::integer FROM outbox o"
            "  WHERE aggregate_type = 'cart' AND aggregate_id = %(u)s::text AND event_type = 'CartChanged'"
            "    AND NOT EXISTS (SELECT 1 FROM cart_deltas_applied a WHERE a.event_id = o.event_id)"
            ") lines GROUP BY product_id HAVING sum(quantity) > 0",
            {"u": user_id},
        )
        return {int(r["product_id"]): int(r["quantity"]) for r in rows}

    # -- idempotency keys -------------------------------------------------------------------------------------------

    async def idempotency_begin(self, user_id: int, key: str, request_hash: str, *, lock_s: float) -> IdempotencyRecord:
        """Claim ``key`` for this request, or report what became of the request that holds it."""
        await self.conn.execute(
            "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys "
            "WHERE created_at < now() - make_interval(secs => %s) LIMIT 100)",
            (IDEMPOTENCY_TTL_S,),
        )
        rows = await self._rows(
            "INSERT INTO idempotency_keys AS k (user_id, key, request_hash, locked_until) "
            "VALUES (%(user)s, %(key)s, %(hash)s, now() + make_interval(secs => %(lock)s)) "
            "ON CONFLICT (user_id, key) DO UPDATE SET locked_until = excluded.locked_until "
            "  WHERE k.response_status IS NULL AND k.locked_until < now() AND k.request_hash = excluded.request_hash "
            "RETURNING true AS claimed",
            {"user": user_id, "key": key, "hash": request_hash, "lock": lock_s},
        )
        if rows:
            return IdempotencyRecord(claimed=True, same_request=True)
        found = await self._rows(
            "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = %s AND key = %s",
            (user_id, key),
        )
        row = found[0]
        return IdempotencyRecord(
            claimed=False,
            same_request=row["request_hash"] == request_hash,
            response_status=row["response_status"],
            response_body=row["response_body"],
        )

    async def idempotency_finish(self, user_id: int, key: str, status: int, body: Any) -> None:
        await self.conn.execute(
            "UPDATE idempotency_keys SET response_status = %s, response_body = %s, locked_until = NULL "
            "WHERE user_id = %s AND key = %s",
            (status, Jsonb(body), user_id, key),
        )

    async def idempotency_release(self, user_id: int, key: str) -> None:
        await self.conn.execute(
            "DELETE FROM idempotency_keys WHERE user_id = %s AND key = %s AND response_status IS NULL", (user_id, key)
        )
