"""The transactional outbox, written in the same transaction as the change that causes the events."""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.types.json import Jsonb

from polysocial.domain.events import Event
from polysocial.stores.relational.txpart import TxPart

OUTBOX_CHANNEL = "polysocial_outbox"


class PostgresOutbox(TxPart):
    async def add(self, events: Sequence[Event]) -> None:
        if not events:
            return
        async with self.conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload, created_at, trace) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        e.event_id,
                        e.aggregate_type,
                        e.aggregate_id,
                        e.event_type,
                        Jsonb(e.payload),
                        e.created_at,
                        Jsonb(e.trace) if e.trace else None,
                    )
                    for e in events
                ],
            )
        # Delivered at commit, and only if the transaction commits: wakes the relays at once instead of at their
        # next poll.
        await self.conn.execute("SELECT pg_notify(%s, '')", (OUTBOX_CHANNEL,))
