"""The web client: server-rendered pages (Jinja2, enhanced by htmx) in the same process as the JSON API, calling the
same services; and the API's documentation pages, with every script and style served from this package."""

from __future__ import annotations

from fastapi import FastAPI

from polysocial.web import docs
from polysocial.web.assets import Assets
from polysocial.web.pages import STATIC
from polysocial.web.routes import account, admin, commerce, social

PAGE_ROUTERS = (account.router, social.router, commerce.router, admin.router, docs.router)


def install(api: FastAPI) -> None:
    """Add the pages, the documentation and the static files to the API's application."""
    for router in PAGE_ROUTERS:
        api.include_router(router)
    api.mount("/static", Assets(directory=STATIC), name="static")
