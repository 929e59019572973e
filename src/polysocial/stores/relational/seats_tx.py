"""Ticketed events and their seats in an open transaction (the seed's SELECT ... FOR UPDATE booking)."""

from __future__ import annotations

from datetime import datetime

from polysocial.domain.errors import NotFound
from polysocial.domain.seats import Seat, SeatTaken, TicketedEvent
from polysocial.stores.relational.txpart import TxPart


class PostgresSeats(TxPart):
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

    async def ticketed_events(self, *, after: int, limit: int) -> list[TicketedEvent]:
        rows = await self._rows(
            "SELECT e.ticketed_event_id, e.name, e.starts_at, count(s.seat_no) AS seats, "
            "       count(s.seat_no) FILTER (WHERE s.booked_by IS NULL) AS free "
            "FROM ticketed_events e LEFT JOIN seats s USING (ticketed_event_id) "
            "WHERE e.ticketed_event_id > %s GROUP BY e.ticketed_event_id ORDER BY e.ticketed_event_id LIMIT %s",
            (after, limit),
        )
        return [TicketedEvent(**r) for r in rows]

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
