"""What every page route shares: who is looking (the session cookie), CSRF checks on every POST, rendering a
template with the security headers, flash messages across a redirect, and errors shown as pages.

A page route is an ordinary FastAPI route on a router whose ``route_class`` is ``PageRoute``: the class wraps the
handler, so a route's body is only the call to its service and the template it fills.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from polysocial.domain.accounts import Session, UserRole
from polysocial.domain.errors import DomainError, Forbidden, StoresUnavailable, StoreUnavailable
from polysocial.logging import get_logger
from polysocial.services.idempotency import IdempotentRequest, Reply
from polysocial.web import security
from polysocial.web.security import CSRF_FIELD, PAGE_HEADERS

log = get_logger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
FLASH_COOKIE = "polysocial_flash"
MAX_FLASH = 500

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every value is escaped: a post holding <script> shows as text
    undefined=jinja2.StrictUndefined,  # a misspelt name is an error in the tests, not a blank on the page
    trim_blocks=True,
    lstrip_blocks=True,
)


def _money(value: Decimal | float | int) -> str:
    return f"{Decimal(value):,.2f}"


def _when(value: str | datetime) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


env.filters["money"] = _money
env.filters["when"] = _when
env.globals["CSRF_FIELD"] = CSRF_FIELD


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person looking at a page."""

    session: Session
    token: str = field(repr=False)  # a live credential: never in a repr or a log line

    @property
    def user_id(self) -> int:
        return self.session.user_id

    @property
    def is_admin(self) -> bool:
        return self.session.role is UserRole.ADMIN


class SignInRequired(Exception):
    """The page needs a session and the request has none (or it has ended)."""


class Forged(Exception):
    """A POST without the CSRF token of the session it was sent with."""


def services_of(request: Request) -> Any:
    return request.app.state.polysocial.services


def settings_of(request: Request) -> Any:
    return request.app.state.polysocial.settings


async def _viewer(request: Request) -> Viewer | None:
    token = request.cookies.get(security.SESSION_COOKIE)
    if not token:
        return None
    session = await services_of(request).sessions.resolve(token)
    return Viewer(session, token) if session is not None else None


async def signed_in(request: Request) -> Viewer:
    viewer: Viewer | None = request.state.viewer
    if viewer is None:
        raise SignInRequired
    return viewer


async def maybe_signed_in(request: Request) -> Viewer | None:
    viewer: Viewer | None = request.state.viewer
    return viewer


async def administrator(viewer: Annotated[Viewer, Depends(signed_in)]) -> Viewer:
    if not viewer.is_admin:
        raise Forbidden("this page is for administrators only")
    return viewer


ViewerDep = Annotated[Viewer, Depends(signed_in)]
MaybeViewerDep = Annotated[Viewer | None, Depends(maybe_signed_in)]
AdminDep = Annotated[Viewer, Depends(administrator)]


def is_fragment_request(request: Request) -> bool:
    """An htmx request that swaps a part of the page (not a whole page)."""
    return request.headers.get("HX-Request") == "true"


# -- rendering ----------------------------------------------------------------------------------------------------


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The template filled with ``context``, plus what every page has: the viewer, the CSRF token, a new
    idempotency key per form (``new_key()``), and the flash message left by the previous request."""
    flash = _read_flash(request)
    body = env.get_template(template).render(
        request=request,
        viewer=request.state.viewer,
        csrf=request.state.csrf,
        flash=flash,
        new_key=lambda: uuid.uuid4().hex,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(body, status_code=status)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, to: str, *, notice: str | None = None, error: str | None = None) -> Response:
    """303 to ``to`` (the Post/Redirect/Get pattern), carrying a one-time message to the next page."""
    response = RedirectResponse(to, status_code=303)
    if notice or error:
        _set_flash(response, "error" if error else "ok", (error or notice or "")[:MAX_FLASH])
    return response


def back(request: Request, fallback: str = "/") -> str:
    """Where the form was sent from (this site's pages only), else ``fallback``."""
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        if parts.netloc == request.url.netloc and parts.path.startswith("/") and not parts.path.startswith("//"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return fallback


def local_path(candidate: str | None, fallback: str = "/web/home") -> str:
    """``candidate`` if it is a path on this site (an open redirect otherwise), else ``fallback``."""
    if candidate and candidate.startswith("/") and not candidate.startswith(("//", "/\\")):
        return candidate
    return fallback


def _set_flash(response: Response, kind: str, text: str) -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"k": kind, "t": text}).encode()).decode()
    response.set_cookie(FLASH_COOKIE, payload, max_age=60, httponly=True, samesite="lax", path="/")


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError):
        return None
    if not isinstance(found, dict) or found.get("k") not in {"ok", "error"} or not isinstance(found.get("t"), str):
        return None
    return {"kind": found["k"], "text": found["t"][:MAX_FLASH]}


# -- errors as pages ----------------------------------------------------------------------------------------------


def explain(exc: Exception) -> tuple[int, str]:
    """(status, a sentence for a person) for an error a service or a form raised."""
    if isinstance(exc, DomainError):
        return exc.status, exc.detail[:1].upper() + exc.detail[1:]
    if isinstance(exc, StoreUnavailable):
        return 503, f"The {exc.role} store is unavailable right now; nothing was changed. Try again in a moment."
    if isinstance(exc, StoresUnavailable):
        roles = ", ".join(f.role for f in exc.failures)
        return 503, f"Some stores are unavailable right now ({roles}); nothing was changed. Try again in a moment."
    if isinstance(exc, RequestValidationError | ValidationError):
        return 422, "Please check the form: " + "; ".join(_field_message(e) for e in exc.errors())
    raise TypeError(f"not an error a page explains: {type(exc).__name__}")


def _field_message(error: Mapping[str, Any]) -> str:
    where = [str(p) for p in error.get("loc", ()) if p not in {"body", "query", "path", "form"}]
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{' '.join(where).replace('_', ' ')}: {message}" if where else message


def replayed_notice(reply: Reply, done: str) -> tuple[str | None, str | None]:
    """(notice, error) for an idempotent form's reply: a double submit is answered with the first one's result."""
    if reply.replayed and reply.status >= 400:
        return None, f"{reply.body.get('detail', 'refused')} (this form was already sent once)"
    if reply.replayed:
        return f"{done} (this form was already sent once: it was done once)", None
    return done, None


def idempotent_form(request: Request, key: str | None, body: Mapping[str, Any]) -> IdempotentRequest | None:
    """The form's Idempotency-Key (a hidden field made when the page was drawn) as the service takes it."""
    if not key:
        return None
    return IdempotentRequest.of(key[:200], "POST", request.url.path, dict(body))


# -- the route class ----------------------------------------------------------------------------------------------


class PageRoute(APIRoute):
    """A route that answers with HTML: it learns who is looking, refuses forged forms, adds the security headers,
    and shows every error as a page (GET) or as a message on the page the form came from (POST)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page(request: Request) -> Response:
            new_presession: str | None = None
            request.state.viewer, request.state.csrf = None, ""
            secret = ""
            try:
                request.state.viewer = viewer = await _viewer(request)
                if viewer is not None:
                    request.state.user_id = viewer.user_id  # for the request log
                    secret = viewer.token
                else:
                    secret, is_new = security.presession(request)
                    new_presession = secret if is_new else None
                request.state.csrf = security.csrf_token(secret)
                if request.method == "POST":
                    await _check_form(request, secret, viewer)
                response = await handle(request)
            except SignInRequired:
                response = _to_sign_in(request)
            except Forged:
                response = render(
                    request,
                    "error.html",
                    403,
                    title="This form cannot be accepted",
                    message="The form was not sent from this site's own page, or the page is too old. "
                    "Go back, reload the page and try again.",
                )
            except (DomainError, StoreUnavailable, StoresUnavailable, RequestValidationError, ValidationError) as exc:
                response = _failed(request, exc)
            except Exception as exc:  # a page, not the API's JSON 500; the log has the traceback under the same id
                error_id = uuid.uuid4().hex
                log.error("unhandled error", error_id=error_id, path=request.url.path, exc_info=exc)
                response = render(
                    request,
                    "error.html",
                    500,
                    title="Something went wrong",
                    message=f"Something went wrong on our side; nothing you did caused it (error id {error_id}).",
                )
            if new_presession is not None:
                security.set_presession_cookie(request, response, new_presession)
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return page


async def _check_form(request: Request, secret: str, viewer: Viewer | None) -> None:
    form = await request.form()  # parsed once: the route's Form() parameters read the same parsed form
    if security.csrf_valid(secret, form.get(CSRF_FIELD)):
        return
    if viewer is None and request.cookies.get(security.SESSION_COOKIE):
        raise SignInRequired  # a form from a session that has since ended: sign in again, nothing forged
    raise Forged


def _to_sign_in(request: Request) -> Response:
    target = request.url.path if request.method == "GET" else back(request, "/web/home")
    if request.method == "GET" and request.url.query:
        target += f"?{request.url.query}"
    location = f"/web/signin?next={quote(target, safe='/')}"
    if is_fragment_request(request):  # htmx: a whole-page navigation, not a sign-in form inside a button
        return Response(status_code=200, headers={"HX-Redirect": location})
    response = redirect(request, location, notice="Please sign in to continue.")
    security.clear_session_cookie(request, response)
    return response


def _failed(request: Request, exc: Exception) -> Response:
    status, message = explain(exc)
    if status >= 500:
        log.warning("page failed", path=request.url.path, status=status, error=type(exc).__name__)
    if request.method == "GET":
        return render(request, "error.html", status, title=_TITLES.get(status, "That did not work"), message=message)
    if is_fragment_request(request):  # the page reloads and shows the message where the form was
        response = Response(status_code=200, headers={"HX-Refresh": "true"})
        _set_flash(response, "error", message[:MAX_FLASH])
        return response
    return redirect(request, back(request), error=message)


_TITLES = {
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "That could not be done",
    422: "Please check the form",
    429: "Slow down",
    503: "Temporarily unavailable",
}
