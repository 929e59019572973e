"""Leaderboards, and the administrators' page: relay status, API latency per endpoint over 24 hours (an SVG chart
drawn here), the customer report, and the forms that create products, restock them and create events."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import Response

from polysocial.api.schemas.common import MAX_ID
from polysocial.api.schemas.shop import ProductCreate, Restock
from polysocial.domain.analytics import BOARDS
from polysocial.domain.errors import NotFound
from polysocial.web.charts import Series, line_chart
from polysocial.web.pages import (
    AdminDep,
    PageRoute,
    ViewerDep,
    idempotent_form,
    redirect,
    render,
    replayed_notice,
    services_of,
)
from polysocial.web.routes.commerce import event_form

router = APIRouter(route_class=PageRoute, include_in_schema=False, prefix="/web")

CHART_ENDPOINTS = 6  # the busiest endpoints get a line each; the table lists them all


# -- leaderboards -----------------------------------------------------------------------------------------------


@router.get("/leaderboards")
async def leaderboards(request: Request, viewer: ViewerDep) -> Response:
    services = services_of(request)
    tops = await asyncio.gather(*(services.analytics.leaderboard(name, limit=10) for name in BOARDS))
    boards = dict(zip(BOARDS, tops, strict=True))
    users = [int(r.member) for name, rows in boards.items() if BOARDS[name].submitted for r in rows]
    names = await services.social.names(users)
    return render(request, "leaderboards.html", boards=boards, specs=BOARDS, names=names)


@router.post("/leaderboards/{board}/scores")
async def submit_score(
    request: Request,
    viewer: ViewerDep,
    board: Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{0,63}$")],
    score: Annotated[float, Form(ge=0, le=1e12, allow_inf_nan=False)],
) -> Response:
    if board not in BOARDS:
        raise NotFound(f"there is no leaderboard {board!r}")
    ranked = await services_of(request).analytics.submit_score(board, viewer.user_id, score)
    return redirect(request, "/web/leaderboards", notice=f"Score recorded: you are number {ranked.rank} on {board}.")


# -- administrators ---------------------------------------------------------------------------------------------


@router.get("/admin")
async def admin(
    request: Request,
    viewer: AdminDep,
    days: Annotated[int, Query(ge=1, le=3650)] = 30,
    min_orders: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    services = services_of(request)
    relay, report, customers, products = await asyncio.gather(
        services.operations.relay_status(),
        services.analytics.api_report(hours=24),
        services.shop.customer_report(days=days, min_orders=min_orders),
        services.shop.products(after=0, limit=100),
    )
    return render(
        request,
        "admin.html",
        relay=relay,
        latency=report.latency,
        status_classes=report.status_classes,
        chart=latency_chart(report.latency),
        customers=customers,
        products=products,
        days=days,
        min_orders=min_orders,
    )


def latency_chart(rows: list[Any]) -> str:
    """p95 latency per hour of the busiest endpoints."""
    by_endpoint: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    volume: dict[str, int] = defaultdict(int)
    for row in sorted(rows, key=lambda r: r.hour):
        by_endpoint[row.endpoint].append((row.hour, row.p95_ms))
        volume[row.endpoint] += row.requests
    busiest = sorted(volume, key=lambda e: -volume[e])[:CHART_ENDPOINTS]
    series = [Series(endpoint, by_endpoint[endpoint]) for endpoint in busiest]
    return line_chart(series, title="API latency, p95 per hour, busiest endpoints, last 24 hours", unit="ms")


@router.post("/admin/products")
async def create_product(
    request: Request,
    viewer: AdminDep,
    name: Annotated[str, Form(max_length=500)],
    price: Annotated[str, Form(max_length=40)],
    stock: Annotated[int, Form(ge=0, le=10_000_000)],
) -> Response:
    body = ProductCreate.model_validate({"name": name, "price": price.strip(), "stock": stock})
    product = await services_of(request).shop.create_product(body.name, body.price, body.stock)
    return redirect(request, "/web/admin#products", notice=f"Product {product.product_id} ({product.name}) created.")


@router.post("/admin/products/{product_id}/restock")
async def restock(
    request: Request,
    viewer: AdminDep,
    product_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    quantity: Annotated[int, Form(ge=1, le=10_000_000)],
    key: Annotated[str, Form(min_length=1, max_length=200, alias="idempotency_key")],
) -> Response:
    body = Restock.model_validate({"quantity": quantity})
    reply = await services_of(request).shop.restock(
        viewer.user_id,
        product_id,
        body.quantity,
        request=idempotent_form(request, key, {"quantity": body.quantity}),
        render=lambda product: product.stock,
    )
    notice, error = replayed_notice(reply, f"Product {product_id} restocked: {reply.body} in stock.")
    return redirect(request, "/web/admin#products", notice=notice, error=error)


@router.post("/admin/events")
async def create_event(
    request: Request,
    viewer: AdminDep,
    name: Annotated[str, Form(max_length=500)],
    starts_at: Annotated[str, Form(max_length=40)],
    seats: Annotated[int, Form(ge=1, le=100_000)],
) -> Response:
    body = event_form(name, starts_at, seats)
    created = await services_of(request).seats.create_event(body.name, body.starts_at, body.seats)
    return redirect(request, f"/web/events/{created.ticketed_event_id}", notice=f"Event {created.name} created.")
