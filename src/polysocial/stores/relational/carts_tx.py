"""The durable copy of carts in an open transaction (the live carts are in the keyvalue role)."""

from __future__ import annotations

import uuid

from polysocial.stores.relational.txpart import TxPart


class PostgresCarts(TxPart):
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
            # an erased account's late change adds nothing (no profile: services/erasure.py)
            rows = await self._rows(
                "INSERT INTO cart_items AS c (user_id, product_id, quantity) SELECT %(u)s, %(p)s, %(d)s "
                "WHERE EXISTS (SELECT 1 FROM user_profiles WHERE user_id = %(u)s) "
                "ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = c.quantity + excluded.quantity, "
                "updated_at = now() RETURNING quantity",
                {"u": user_id, "p": product_id, "d": delta},
            )
            return int(rows[0]["quantity"]) if rows else 0
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

    async def cart_owners(self, *, after: int, limit: int) -> list[int]:
        rows = await self._rows(
            "SELECT user_id FROM ("
            "  SELECT user_id FROM cart_items WHERE user_id > %(after)s"
            "  UNION SELECT aggregate_id::bigint FROM outbox"
            "  WHERE aggregate_type = 'cart' AND aggregate_id ~ '^[0-9]+$' AND aggregate_id::bigint > %(after)s"
            ") owners ORDER BY user_id LIMIT %(limit)s",
            {"after": after, "limit": limit},
        )
        return [int(r["user_id"]) for r in rows]
