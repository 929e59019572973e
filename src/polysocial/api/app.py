"""The HTTP API: ``create_app()`` builds it; its lifespan opens every store client (and runs the outbox relay unless
a separate worker does) and closes them at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from polysocial import __version__, tracing, web
from polysocial.api.errors import ContainErrors, install_error_handlers
from polysocial.api.metrics import ProcessMetrics, RequestMetrics
from polysocial.api.routes import admin, analytics, auth, feed, health, posts, seats, shop, social, users, wallet
from polysocial.api.schemas.posts import EXTRA_VALUE_SCHEMAS
from polysocial.api.server import FASTAPI_TELEMETRY, tune_collector
from polysocial.bootstrap import App, bootstrap
from polysocial.config import Role, Settings
from polysocial.events.leader import RELAY_LEASE, Leadership
from polysocial.logging import configure_logging

# Every router the API serves, in the order they are matched (tests walk this to cover every operation). A request
# is tried against each router's routes in turn until one matches, so the busiest come first: the home feed (60% of
# the DeathStarBench mix), posts (user timelines 30%, compose 10%). Matching /feed last but six was 9% of its CPU.
# No two routes match the same method and path, so the order changes nothing else (tests/api/test_routes.py).
ROUTERS = tuple(
    module.router for module in (feed, posts, users, social, auth, wallet, health, shop, seats, analytics, admin)
)


@asynccontextmanager
async def in_background(
    run_forever: Callable[[asyncio.Event], Coroutine[None, None, None]], name: str
) -> AsyncIterator[None]:
    """Run a ``run_forever(stop)`` loop (the relay, the analytics flush) for the life of the block. At the end it is
    asked to stop and given 10 s; a loop stuck on a slow store (FerretDB scanning a large collection) is then
    cancelled rather than holding the shutdown: both are built to be interrupted (claims are leased, handlers
    idempotent, an unflushed batch stays in the buffer)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_forever(stop), name=name)
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=10)


def relay_job(state: App, *, led: bool) -> Callable[[asyncio.Event], Coroutine[None, None, None]]:
    """The outbox relay's loop; ``led``: only while this process holds the relay's lease (events/leader.py), so that
    of every server process sharing the database one runs it (a caller-owned App in tests runs it unled)."""
    if not led:
        return state.relay.run_forever
    lease = Leadership(state.settings.store_url(Role.RELATIONAL).url, RELAY_LEASE)
    return functools.partial(lease.run_forever, state.relay.run_forever)


def optional_security(schema: dict[str, Any]) -> None:
    """An operation that declares its token optional (``{}`` among its requirements, through ``openapi_extra``) gets
    FastAPI's requirement from its dependency appended as well: keep each requirement once, the optional one first,
    so that the document says "a token, or none" rather than "a token"."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            security = operation.get("security")
            if isinstance(security, list) and {} in security:
                unique = [r for i, r in enumerate(security) if r not in security[:i]]
                operation["security"] = [{}, *(r for r in unique if r)]


def describe_extra_values(api: FastAPI) -> None:
    """Add the recursive schema of the posts' and articles' extra fields to the OpenAPI document, and say where a
    token is optional (optional_security)."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(EXTRA_VALUE_SCHEMAS)
            optional_security(schema)
        return api.openapi_schema or generate()

    api.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the document


def add_routes(api: FastAPI, routers: Sequence[APIRouter]) -> None:
    """The routers' routes, on the app's own router, in order. FastAPI's include_router keeps each router as a
    nested matcher (route versions, effective contexts, the route matched a second time to handle it): 8% of a feed
    request's CPU in the profile. Routes on the app's router are matched by their own pattern, once, as FastAPI
    matched included routes before it nested them. A router's own prefix, tags and dependencies are in its routes
    already (APIRouter puts them there); include_router's arguments, which would add more, were never used here; the
    OpenAPI document is the same. ``api.dependency_overrides`` does not reach these routes: nothing uses it."""
    for router in routers:
        api.router.routes.extend(router.routes)


def create_app(
    settings: Settings | None = None,
    *,
    app_state: App | None = None,
    relay: bool | None = None,
    served: bool = False,
) -> FastAPI:
    """The FastAPI application. With ``app_state`` the caller owns the stores (and the relay, unless ``relay`` is
    True); otherwise the lifespan bootstraps them from ``settings`` and closes them at shutdown. ``served``: the
    application of a server process (``serving_app``), whose collector is tuned once it has started
    (api/server.tune_collector)."""
    if not structlog.is_configured():  # served by another runner: its logs still never carry locals or secrets
        configure_logging()

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        state = app_state or await bootstrap(settings)
        api.state.polysocial = state
        if served:
            tune_collector()  # everything built so far lives as long as the process
        run_relay = relay if relay is not None else (app_state is None and state.settings.relay_in_process)
        try:
            async with contextlib.AsyncExitStack() as stack:
                # Every process flushes its own buffer (the events it recorded are in its memory, nowhere else).
                await stack.enter_async_context(in_background(state.analytics_buffer.run_forever, "analytics-flush"))
                await stack.enter_async_context(in_background(metrics.run_forever, "worker-metrics"))
                # Sessions kept in memory while this process hears every revocation (services/sessions.py).
                await stack.enter_async_context(
                    in_background(state.services.sessions.run_forever, "session-revocations")
                )
                if run_relay:
                    await stack.enter_async_context(in_background(relay_job(state, led=app_state is None), "relay"))
                yield
        finally:
            metrics.process_ended()
            if app_state is None:
                await state.aclose()

    api = FastAPI(
        title="polysocial",
        version=__version__,
        summary="A social platform back end on polyglot persistence",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are the web client's (web/docs.py): served from the package, offline
        redoc_url=None,
        telemetry=FASTAPI_TELEMETRY,  # type: ignore[arg-type]  # a TelemetryConfig: a TypedDict of FastAPI's
    )
    if app_state is not None:  # available without the lifespan too (in-process test clients do not run it)
        api.state.polysocial = app_state
    install_error_handlers(api)
    if tracing.configure():  # off unless the OTEL_* variables ask for it
        tracing.instrument_app(api)
    add_routes(api, ROUTERS)
    describe_extra_values(api)
    web.install(api)

    def state_of() -> App | None:
        return getattr(api.state, "polysocial", None)

    metrics = ProcessMetrics(state_of)
    api.state.metrics = metrics
    api.add_middleware(ContainErrors)  # inside the metrics, which then see the 500 it sends
    api.add_middleware(RequestMetrics, metrics=metrics, state_of=state_of)
    configured = app_state.settings if app_state is not None else settings if settings is not None else Settings()
    if configured.cors_origin_list:
        # Outermost: a preflight is answered before any route, session or metric sees it.
        api.add_middleware(
            CORSMiddleware,
            allow_origins=configured.cors_origin_list,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match", "X-Request-ID"],
            expose_headers=["Location", "Retry-After", "X-Request-ID", "Link", "ETag"],
            allow_credentials=False,
            max_age=600,
        )
    return api


def serving_app() -> FastAPI:
    """The application of a `polysocial serve` worker (uvicorn calls it in each process; settings from the
    environment)."""
    return create_app(served=True)
