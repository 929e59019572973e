"""The web client's session cookie, its CSRF tokens and the headers every page is sent with.

The cookie holds the same opaque session token as a bearer session (services/sessions.py): the same store, the same
idle and absolute timeouts, the same sign-out. It is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (a form
posted from another site does not carry it) and ``Secure`` when the page was served over HTTPS.

CSRF: every state-changing form carries a token derived from the session token by a keyed hash (the "HMAC based token
pattern"): a page from another site can neither read the cookie nor the token, so it cannot forge a form, and the
server stores nothing. Before sign-in there is no session: the sign-in and sign-up forms are bound in the same way
to a random pre-session cookie, so that nobody can sign a visitor into an account of theirs (login CSRF).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "polysocial_session"
PRESESSION_COOKIE = "polysocial_presession"
CSRF_FIELD = "csrf_token"
_CSRF_KEY = b"polysocial web csrf v1"

# Scripts and styles only from this server: no inline script, no eval, no CDN. Images may come from anywhere over
# HTTPS (avatars and media are URLs that users give). No page of this site may be framed (clickjacking).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
)
# ReDoc's bundle writes its styles into <style> elements at run time (styled-components): the documentation pages
# allow inline styles, never inline scripts. Their images come from this server only: ReDoc's footer would fetch its
# maker's logo from a CDN (it hides the image when that fails), and a documentation page has no reason to call out.
# ReDoc's search index runs in a worker that its bundle builds from a blob of its own code.
DOCS_CONTENT_SECURITY_POLICY = (
    CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
        "img-src 'self' data: https:", "img-src 'self' data:"
    )
    + "; worker-src 'self' blob:"
)

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors' older spelling, for older browsers
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages are personal: no shared cache may keep one
}


def csrf_token(secret: str) -> str:
    """The form token bound to ``secret`` (a session token, or the pre-session cookie before sign-in)."""
    return hmac.new(_CSRF_KEY, secret.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: str | None, sent: object) -> bool:
    return bool(secret) and isinstance(sent, str) and hmac.compare_digest(csrf_token(secret or ""), sent)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(request: Request, response: Response, token: str, *, max_age_s: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age_s,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=is_https(request), path="/")


def presession(request: Request) -> tuple[str, bool]:
    """The visitor's pre-session secret, and whether it is new (then it must be set as a cookie)."""
    found = request.cookies.get(PRESESSION_COOKIE)
    if found and 20 <= len(found) <= 100:
        return found, False
    return secrets.token_urlsafe(32), True


def set_presession_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        PRESESSION_COOKIE, value, max_age=24 * 3600, httponly=True, samesite="lax", secure=is_https(request), path="/"
    )
