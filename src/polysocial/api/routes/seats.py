"""Events with seats, and booking one (the seed's SELECT ... FOR UPDATE under REPEATABLE READ, retried on
serialization failure): a seat goes to exactly one booker; the others get 409."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from polysocial.api.commerce_schemas import Booking, SeatPublic, TicketedEventCreate, TicketedEventPublic
from polysocial.api.deps import AdminDep, AppDep, CallerDep
from polysocial.api.idempotency import IdempotencyKey, once
from polysocial.api.responses import problems
from polysocial.domain.commerce import MAX_SEATS
from polysocial.domain.consistency import Operation
from polysocial.domain.errors import NotFound
from polysocial.services import commerce

router = APIRouter(tags=["seats"])

EventId = Annotated[int, Path(ge=1, le=2**63 - 1)]
SeatNo = Annotated[int, Path(ge=1, le=MAX_SEATS)]


@router.post("/ticketed-events", response_model=TicketedEventPublic, status_code=201, responses=problems(401, 403, 422))
async def create_event(body: TicketedEventCreate, app: AppDep, admin: AdminDep) -> TicketedEventPublic:
    event_id = await commerce.create_ticketed_event(app.relational, body.name.strip(), body.starts_at, body.seats)
    return await get_event(event_id, app, admin)


@router.get("/ticketed-events/{event_id}", response_model=TicketedEventPublic, responses=problems(401, 404, 422))
async def get_event(event_id: EventId, app: AppDep, caller: CallerDep) -> TicketedEventPublic:
    async with app.relational.transaction() as tx:
        found = await tx.ticketed_event(event_id)
    if found is None:
        raise NotFound(f"event {event_id} does not exist")
    return TicketedEventPublic.of(found)


@router.get("/ticketed-events/{event_id}/seats", response_model=list[SeatPublic], responses=problems(401, 404, 422))
async def seats(event_id: EventId, app: AppDep, caller: CallerDep) -> list[SeatPublic]:
    async with app.relational.transaction() as tx:
        found = await tx.seats(event_id, caller.user_id)
    if not found:
        raise NotFound(f"event {event_id} does not exist")
    return [SeatPublic.of(s) for s in found]


@router.post(
    "/ticketed-events/{event_id}/seats/{seat_no}/booking",
    response_model=Booking,
    status_code=201,
    responses=problems(401, 404, 409, 422, 503),
)
async def book(
    event_id: EventId, seat_no: SeatNo, request: Request, app: AppDep, caller: CallerDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await once(
        app, caller, request, key, body=None, operation=Operation.BOOK_SEAT,
        work=commerce.booking_work(event_id, seat_no, caller.user_id),
        render=lambda seat: Booking(ticketed_event_id=event_id, seat_no=seat), status_code=201,
    )  # fmt: skip
