"""Ticketed events, their seats and bookings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from polysocial.api.schemas.common import JSON_INTEGER, IsoDateTime, Label, NextCursor, OldNextNumber, Strict
from polysocial.domain.seats import MAX_SEATS, Seat, TicketedEvent


def _sane_moment(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone (2027-01-15T10:00:00Z)")
    if not datetime(2000, 1, 1, tzinfo=UTC) <= value <= datetime(2200, 1, 1, tzinfo=UTC):
        raise ValueError("must be between 2000 and 2200")
    return value


class TicketedEventCreate(Strict):
    name: Label
    starts_at: Annotated[IsoDateTime, AfterValidator(_sane_moment)]
    seats: Annotated[int, Field(ge=1, le=MAX_SEATS), JSON_INTEGER]


class TicketedEventPublic(BaseModel):
    ticketed_event_id: int
    name: str
    starts_at: datetime
    seats: int
    free: int

    @classmethod
    def of(cls, event: TicketedEvent) -> TicketedEventPublic:
        return cls(
            ticketed_event_id=event.ticketed_event_id,
            name=event.name,
            starts_at=event.starts_at,
            seats=event.seats,
            free=event.free,
        )


class TicketedEventPage(BaseModel):
    items: list[TicketedEventPublic]
    next_after: OldNextNumber = None
    next_cursor: NextCursor = None


class SeatPublic(BaseModel):
    seat_no: int
    booked: bool
    booked_by_me: bool

    @classmethod
    def of(cls, seat: Seat) -> SeatPublic:
        return cls(seat_no=seat.seat_no, booked=seat.booked, booked_by_me=seat.booked_by_me)


class Booking(BaseModel):
    ticketed_event_id: int
    seat_no: int
    booked_by_me: bool = True
