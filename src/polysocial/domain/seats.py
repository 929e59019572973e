"""Ticketed events and their seats: a seat goes to exactly one booker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from polysocial.domain.errors import Conflict

MAX_SEATS = 10_000


class SeatTaken(Conflict):
    title = "Seat already booked"
    type_slug = "seat-taken"


@dataclass(frozen=True, slots=True)
class Seat:
    seat_no: int
    booked: bool
    booked_by_me: bool


@dataclass(frozen=True, slots=True)
class TicketedEvent:
    ticketed_event_id: int
    name: str
    starts_at: datetime
    seats: int
    free: int
