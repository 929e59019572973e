"""The shop in an open transaction: products, stock, orders with their payment, the customer report."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from psycopg import sql

from polysocial.domain.errors import NotFound
from polysocial.domain.shop import CustomerReportRow, Order, OrderLine, OrderStateConflict, OrderStatus, Product
from polysocial.stores.relational.txpart import TxPart


class PostgresShop(TxPart):
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
            Order(
                r["order_id"],
                r["user_id"],
                r["total"],
                OrderStatus(r["status"]),
                r["created_at"],
                tuple(OrderLine(int(p), int(q), Decimal(u)) for p, q, u in r["items"]),
            )
            for r in rows
        ]

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
