"""The HTTP API: ``create_app()`` builds it; its lifespan opens every store client and closes them at shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from polysocial import __version__
from polysocial.api.errors import install_error_handlers
from polysocial.api.routes import health
from polysocial.bootstrap import App, bootstrap
from polysocial.config import Settings


def create_app(settings: Settings | None = None, *, app_state: App | None = None) -> FastAPI:
    """The FastAPI application. With ``app_state`` the caller owns the stores (tests share one App across apps);
    otherwise the lifespan bootstraps them from ``settings`` and closes them at shutdown."""

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        if app_state is not None:
            api.state.polysocial = app_state
            yield
            return
        state = await bootstrap(settings)
        api.state.polysocial = state
        try:
            yield
        finally:
            await state.aclose()

    api = FastAPI(
        title="polysocial",
        version=__version__,
        summary="A social platform back end on polyglot persistence",
        lifespan=lifespan,
    )
    if app_state is not None:  # available without the lifespan too (in-process test clients do not run it)
        api.state.polysocial = app_state
    install_error_handlers(api)
    api.include_router(health.router)
    return api
