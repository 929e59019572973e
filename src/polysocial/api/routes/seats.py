"""Events with seats, and booking one (the seed's SELECT ... FOR UPDATE under REPEATABLE READ, retried on
serialization failure): a seat goes to exactly one booker; the others get 409."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from polysocial.api.deps import AdminDep, CallerDep, SeatsDep
from polysocial.api.idempotency import IdempotencyKey, idempotent, json_of, respond
from polysocial.api.pagination import ByNumber, listing
from polysocial.api.responses import problems
from polysocial.api.schemas.common import MAX_ID
from polysocial.api.schemas.seats import (
    Booking,
    SeatPublic,
    TicketedEventCreate,
    TicketedEventPage,
    TicketedEventPublic,
)
from polysocial.domain.seats import MAX_SEATS

router = APIRouter(tags=["seats"])

EventId = Annotated[int, Path(ge=1, le=MAX_ID)]
SeatNo = Annotated[int, Path(ge=1, le=MAX_SEATS)]


@router.post(
    "/ticketed-events",
    response_model=TicketedEventPublic,
    status_code=201,
    responses=problems(401, 403, 422),
    summary="Create a ticketed event with numbered seats (administrators)",
)
async def create_event(body: TicketedEventCreate, seats: SeatsDep, admin: AdminDep) -> TicketedEventPublic:
    return TicketedEventPublic.of(await seats.create_event(body.name, body.starts_at, body.seats))


@router.get(
    "/ticketed-events",
    response_model=TicketedEventPage,
    responses=listing(401, 422),
    summary="Ticketed events, in id order",
)
async def list_events(seats: SeatsDep, caller: CallerDep, paging: ByNumber) -> TicketedEventPage:
    found = await seats.events(after=paging.start or 0, limit=paging.limit)
    last = found[-1].ticketed_event_id if len(found) == paging.limit else None
    return TicketedEventPage(
        items=[TicketedEventPublic.of(e) for e in found], next_after=last, next_cursor=paging.next_cursor(last)
    )


@router.get(
    "/ticketed-events/{event_id}",
    response_model=TicketedEventPublic,
    responses=problems(401, 404, 422),
    summary="One ticketed event",
)
async def get_event(event_id: EventId, seats: SeatsDep, caller: CallerDep) -> TicketedEventPublic:
    return TicketedEventPublic.of(await seats.event(event_id))


@router.get(
    "/ticketed-events/{event_id}/seats",
    response_model=list[SeatPublic],
    responses=problems(401, 404, 422),
    summary="An event's seats, free and taken",
)
async def seat_map(event_id: EventId, seats: SeatsDep, caller: CallerDep) -> list[SeatPublic]:
    return [SeatPublic.of(s) for s in await seats.seat_map(event_id, caller.user_id)]


@router.post(
    "/ticketed-events/{event_id}/seats/{seat_no}/booking",
    response_model=Booking,
    status_code=201,
    responses=problems(401, 404, 409, 422, 503),
    summary="Book a seat (of two bookers racing, one wins; the other gets 409)",
)
async def book(
    event_id: EventId, seat_no: SeatNo, request: Request, seats: SeatsDep, caller: CallerDep, key: IdempotencyKey = None
) -> JSONResponse:
    reply = await seats.book(
        caller.user_id,
        event_id,
        seat_no,
        request=idempotent(request, key),
        render=json_of(lambda seat: Booking(ticketed_event_id=event_id, seat_no=seat)),
    )
    return respond(reply)
