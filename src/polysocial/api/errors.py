"""Every error leaves the API as ``application/problem+json`` (RFC 9457): type, title, status, detail, instance.

Domain errors carry their own status; validation errors list each bad field; anything unexpected is a 500 whose body
says nothing about the internals (the log has the traceback, tagged with the same request id).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polysocial.domain.errors import DomainError, StoresUnavailable, StoreUnavailable
from polysocial.logging import get_logger
from polysocial.stores.base import describe
from polysocial.stores.breaker import retry_after_header

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "urn:polysocial:problem:"  # a URN: no page pretends to live at an address we do not serve


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail, "instance": instance}
    body.update(extra)
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _slug(title: str) -> str:
    return "-".join(title.lower().split())


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return problem(
            exc.status,
            exc.title,
            exc.detail,
            slug=exc.type_slug,
            instance=request.url.path,
            headers=exc.headers or None,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors) or "invalid request"
        return problem(
            422, "Unprocessable content", detail, slug="validation", instance=request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # The framework could not read the body (not UTF-8, say): as for malformed JSON, a validation error.
            detail = f"body: not readable as JSON ({describe(exc.__cause__)})"
            errors = [{"location": "body", "message": detail, "type": "json_invalid"}]
            return problem(
                422, "Unprocessable content", detail, slug="validation", instance=request.url.path, errors=errors
            )
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            documented = allowed_methods(request)
            if documented:  # else a path outside the API document (the docs pages): Starlette's header stands
                headers["Allow"] = ", ".join(documented)
            detail = f"{request.method} is not allowed here; allowed: {headers.get('Allow', '')}"
        return problem(
            exc.status_code, title, detail, slug=_slug(title), instance=request.url.path, headers=headers or None
        )

    @app.exception_handler(StoreUnavailable)
    async def store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("store unavailable", role=exc.role, reason=exc.reason, path=request.url.path)
        return problem(
            503,
            "Service unavailable",
            f"the {exc.role} store is unavailable; try again shortly",
            slug="service-unavailable",
            instance=request.url.path,
            headers={"Retry-After": retry_after_header(exc.retry_after_s)},
            role=exc.role,
        )

    @app.exception_handler(StoresUnavailable)
    async def stores_down(request: Request, exc: StoresUnavailable) -> JSONResponse:
        roles = ", ".join(f.role for f in exc.failures)
        return problem(
            503,
            "Service unavailable",
            f"stores unavailable: {roles}",
            slug="service-unavailable",
            instance=request.url.path,
            headers={"Retry-After": retry_after_header(max(f.retry_after_s for f in exc.failures))},
        )

    app.add_exception_handler(Exception, unexpected)


def allowed_methods(request: Request) -> list[str]:
    """Every method the API documents for this path. Starlette's 405 names only the first route that matched the
    path, while a path often has several (GET, PATCH and DELETE of /posts/{post_id} are three routes); the OpenAPI
    document is the list a client reads, so the header is built from it."""
    index = getattr(request.app.state, "allowed_methods", None)
    if index is None:
        index = [
            (re.compile("^" + "[^/]+".join(map(re.escape, re.split(r"\{[^}]+\}", path))) + "$"), ops)
            for path, ops in request.app.openapi().get("paths", {}).items()
        ]
        request.app.state.allowed_methods = index
    path = request.url.path
    return sorted({method.upper() for pattern, ops in index if pattern.match(path) for method in ops})


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A 500 that says nothing about the internals; the log has the traceback under the same error id."""
    error_id = uuid.uuid4().hex
    log.error("unhandled error", error_id=error_id, path=request.url.path, exc_info=exc)
    return problem(
        500,
        "Internal server error",
        f"an unexpected error occurred (error id {error_id})",
        slug="internal",
        instance=request.url.path,
    )


class ContainErrors:
    """Render an unexpected error as the 500 above *inside* the application. Starlette's outermost handler sends
    the same 500 but then re-raises, and the server closes the connection after it: a keep-alive client saw its
    next request fail with a reset. Caught here, the error ends with its response and the connection stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started:  # too late for another response: the server can only close the connection
                raise
            response = await unexpected(Request(scope, receive), exc)
            await response(scope, receive, send)
