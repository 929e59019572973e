"""Seat booking: events with numbered seats; a seat goes to exactly one booker (the seed's SELECT ... FOR UPDATE
under REPEATABLE READ, retried on serialization failure), the others get 409."""

from __future__ import annotations

from datetime import datetime

from polysocial.domain.consistency import Operation
from polysocial.domain.errors import NotFound
from polysocial.domain.seats import MAX_SEATS, Seat, TicketedEvent
from polysocial.domain.text import strip_blank
from polysocial.domain.wallet import InvalidAmount
from polysocial.services.idempotency import Idempotency, IdempotentRequest, Render, Reply, identity
from polysocial.stores.relational.protocol import RelationalStore, RelationalTx


class Seats:
    """Events with numbered seats; a seat goes to exactly one booker, the others get 409."""

    def __init__(self, relational: RelationalStore, idempotency: Idempotency) -> None:
        self.relational = relational
        self.idempotency = idempotency

    async def create_event(self, name: str, starts_at: datetime, seats: int) -> TicketedEvent:
        if not 1 <= seats <= MAX_SEATS:
            raise InvalidAmount(f"an event has 1 to {MAX_SEATS} seats")
        async with self.relational.transaction() as tx:
            event_id = await tx.seats.create_ticketed_event(strip_blank(name), starts_at, seats)
            found = await tx.seats.ticketed_event(event_id)
        assert found is not None  # written by this transaction
        return found

    async def event(self, event_id: int) -> TicketedEvent:
        async with self.relational.reading() as tx:
            found = await tx.seats.ticketed_event(event_id)
        if found is None:
            raise NotFound(f"event {event_id} does not exist")
        return found

    async def events(self, *, after: int, limit: int) -> list[TicketedEvent]:
        async with self.relational.reading() as tx:
            return await tx.seats.ticketed_events(after=after, limit=limit)

    async def seat_map(self, event_id: int, viewer: int) -> list[Seat]:
        async with self.relational.reading() as tx:
            found = await tx.seats.seats(event_id, viewer)
        if not found:
            raise NotFound(f"event {event_id} does not exist")
        return found

    async def book(
        self,
        user_id: int,
        event_id: int,
        seat_no: int,
        *,
        request: IdempotentRequest | None = None,
        render: Render = identity,
    ) -> Reply:
        async def work(tx: RelationalTx) -> int:
            await tx.seats.book_seat(event_id, seat_no, user_id)
            return seat_no

        return await self.idempotency.run(user_id, request, Operation.BOOK_SEAT, work, render, status=201)
