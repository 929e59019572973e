"""The web client's pages and forms, tried with no session, a dead session, no CSRF token, another user's session
and a non-administrator's, in-process over the ASGI interface (the browser suite drives the same pages in Chromium).
The lists come from the web routers themselves, so a new page is in the matrix unless it is made public here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi.routing import APIRoute

from polysocial.api.app import create_app
from polysocial.bootstrap import App
from polysocial.config import Settings
from polysocial.domain.errors import StoreUnavailable
from polysocial.web import PAGE_ROUTERS
from tests.support.accounts import PASSWORD
from tests.support.apps import fresh_app
from tests.support.routes import concrete

PUBLIC_PAGES = {
    ("GET", "/"),
    ("GET", "/web/signup"),
    ("POST", "/web/signup"),
    ("GET", "/web/signin"),
    ("POST", "/web/signin"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
}
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
KEY = re.compile(r'name="idempotency_key" value="([0-9a-f]{32})"')


def jar(cookies: dict[str, str]) -> dict[str, str]:
    """The cookies of one person, sent as a header (the client keeps none of its own: see ``client``)."""
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}


def client_for(app: App, base_url: str) -> httpx.AsyncClient:
    """A client whose cookie jar forgets every response's cookies: each request says whose it is."""
    transport = httpx.ASGITransport(app=create_app(app_state=app), client=("203.0.113.7", 40000))
    client = httpx.AsyncClient(transport=transport, base_url=base_url)

    async def forget(_: httpx.Response) -> None:
        client.cookies.clear()

    client.event_hooks["response"] = [forget]
    return client


def page_routes() -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for router in PAGE_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    )


PRIVATE = [r for r in page_routes() if r not in PUBLIC_PAGES]


def test_the_matrix_sees_every_page() -> None:
    assert set(page_routes()) >= PUBLIC_PAGES
    assert len(PRIVATE) >= 30  # the client's size when this test was written: a check on the walk
    assert ("POST", "/web/admin/products") in PRIVATE


@pytest.fixture(scope="module")
async def web(embedded_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, App]]:
    async with fresh_app(embedded_settings) as app, client_for(app, "http://test") as client:
        yield client, app


async def signed_up(client: httpx.AsyncClient, name: str = "Ada Page") -> tuple[dict[str, str], str, int]:
    """(cookies, csrf token, user id) of a new account signed up through the sign-up form."""
    anonymous = await client.get("/web/signup")
    presession = anonymous.cookies["polysocial_presession"]
    email = f"{name.lower().replace(' ', '.')}-{id(anonymous)}@example.com"
    created = await client.post(
        "/web/signup",
        data={
            "csrf_token": CSRF.search(anonymous.text).group(1),  # type: ignore[union-attr]
            "email": email,
            "password": PASSWORD,
            "name": name,
            "birthdate": "1990-01-01",
        },
        headers=jar({"polysocial_presession": presession}),
    )
    assert created.status_code == 303, created.text
    cookies = {"polysocial_session": created.cookies["polysocial_session"]}
    home = await client.get("/web/home", headers=jar(cookies))
    user_id = int(re.search(r'href="/web/users/(\d+)">Profile', home.text).group(1))  # type: ignore[union-attr]
    return cookies, CSRF.search(home.text).group(1), user_id  # type: ignore[union-attr]


@pytest.mark.parametrize(("method", "path"), [r for r in PRIVATE if r[0] == "GET"])
@pytest.mark.parametrize("session", ["none", "dead"])
async def test_a_page_without_a_live_session_sends_to_sign_in(
    web: tuple[httpx.AsyncClient, App], method: str, path: str, session: str
) -> None:
    client, _ = web
    cookies = {"polysocial_session": "not-a-session"} if session == "dead" else {}
    response = await client.get(concrete(path), headers=jar(cookies))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/web/signin?next=/")
    assert response.headers["content-security-policy"].startswith("default-src 'self'")


@pytest.mark.parametrize(("method", "path"), [r for r in PRIVATE if r[0] == "POST"])
async def test_a_form_without_a_session_or_token_is_refused(
    web: tuple[httpx.AsyncClient, App], method: str, path: str
) -> None:
    client, _ = web
    forged = await client.post(concrete(path), data={"text": "x", "amount": "1.00", "quantity": "1"})
    assert forged.status_code == 403
    assert forged.headers["content-type"].startswith("text/html")
    assert "cannot be accepted" in forged.text
    dead = await client.post(concrete(path), data={"csrf_token": "0" * 64}, headers=jar({"polysocial_session": "gone"}))
    assert dead.status_code == 303
    assert dead.headers["location"].startswith("/web/signin")


async def test_another_user_cannot_edit_or_delete_my_post(web: tuple[httpx.AsyncClient, App]) -> None:
    client, app = web
    owner_cookies, _, owner_id = await signed_up(client, "Ada Owner")
    doc = await app.services.posts.create(owner_id, {"text": "mine", "media": []}, {})
    intruder, token, _ = await signed_up(client, "Eve Intruder")
    for action, data in (("edit", {"text": "pwned"}), ("delete", {})):
        response = await client.post(
            f"/web/posts/{doc['id']}/{action}",
            data={"csrf_token": token, **data},
            headers={"referer": f"http://test/web/posts/{doc['id']}", **jar(intruder)},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/web/posts/{doc['id']}"  # back, with the reason
        assert "polysocial_flash" in response.cookies
    assert (await app.services.posts.get(doc["id"], owner_id))["text"] == "mine"
    page = await client.get(f"/web/posts/{doc['id']}", headers=jar(intruder))
    assert "Delete this post" not in page.text
    mine = await client.get(f"/web/posts/{doc['id']}", headers=jar(owner_cookies))
    assert "Delete this post" in mine.text


async def test_a_user_is_not_an_administrator(web: tuple[httpx.AsyncClient, App]) -> None:
    client, app = web
    cookies, token, _ = await signed_up(client, "Bob User")
    page = await client.get("/web/admin", headers=jar(cookies))
    assert page.status_code == 403
    assert "administrators only" in page.text.lower()
    before = await app.services.shop.products(after=0, limit=100)
    made = await client.post(
        "/web/admin/products",
        data={"csrf_token": token, "name": "free lunch", "price": "0.01", "stock": "5"},
        headers=jar(cookies),
    )
    assert made.status_code == 303
    assert await app.services.shop.products(after=0, limit=100) == before


async def test_my_wallet_page_is_mine_and_a_transfer_moves_my_money_only(web: tuple[httpx.AsyncClient, App]) -> None:
    client, app = web
    ada, ada_token, ada_id = await signed_up(client, "Ada Money")
    bob, _, bob_id = await signed_up(client, "Bob Money")
    await app.services.wallet.deposit(ada_id, Decimal("10.00"))
    wallet = await client.get("/web/wallet", headers=jar(bob))
    assert 'id="balance">0.00<' in wallet.text  # Bob's, not Ada's
    page = await client.get("/web/wallet", headers=jar(ada))
    key = KEY.search(page.text).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": ada_token, "idempotency_key": key, "to_user_id": str(bob_id), "amount": "4.00"}
    for _ in range(2):  # a double submit: one transfer
        sent = await client.post("/web/wallet/transfer", data=form, headers=jar(ada))
        assert sent.status_code == 303
    assert await app.services.wallet.balance(ada_id) == 6
    assert await app.services.wallet.balance(bob_id) == 4


async def test_the_session_cookie_is_secure_over_https(embedded_settings: Settings) -> None:
    async with fresh_app(embedded_settings) as app, client_for(app, "https://test") as client:
        page = await client.get("/web/signin")
        assert "Secure" in page.headers["set-cookie"]  # the pre-session cookie too
        cookies, _, _ = await signed_up(client, "Ada Https")
        assert cookies["polysocial_session"]
        # the sign-up response itself:
        anonymous = await client.get("/web/signup")
        created = await client.post(
            "/web/signup",
            data={
                "csrf_token": CSRF.search(anonymous.text).group(1),  # type: ignore[union-attr]
                "email": "secure-cookie@example.com",
                "password": PASSWORD,
                "name": "Ada",
                "birthdate": "1990-01-01",
            },
            headers=jar({"polysocial_presession": anonymous.cookies["polysocial_presession"]}),
        )
        session = next(v for k, v in created.headers.multi_items() if v.startswith("polysocial_session="))
        assert "Secure" in session
        assert "HttpOnly" in session
        assert "SameSite=lax" in session


async def test_sign_in_never_redirects_off_site(web: tuple[httpx.AsyncClient, App]) -> None:
    client, _ = web
    await signed_up(client, "Ada Redirect")
    anonymous = await client.get("/web/signin?next=//evil.example/steal")
    assert 'name="next" value="/web/home"' in anonymous.text
    token = CSRF.search(anonymous.text).group(1)  # type: ignore[union-attr]
    presession = anonymous.cookies["polysocial_presession"]
    wrong = await client.post(
        "/web/signin",
        data={"csrf_token": token, "email": "nobody@example.com", "password": "wrong password", "next": "//evil"},
        headers={"referer": "http://test/web/signin", **jar({"polysocial_presession": presession})},
    )
    assert wrong.status_code == 303
    assert wrong.headers["location"] == "/web/signin"  # back to the form, with a message; never a JSON body


async def test_errors_are_pages_not_json(web: tuple[httpx.AsyncClient, App]) -> None:
    client, _ = web
    cookies, token, _ = await signed_up(client, "Ada Errors")
    missing = await client.get("/web/posts/01JH0000000000000000000000", headers=jar(cookies))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "does not exist" in missing.text
    empty = await client.post(
        "/web/posts", data={"csrf_token": token, "text": "   "}, headers={"referer": "http://test/x", **jar(cookies)}
    )
    assert empty.status_code == 303
    assert empty.headers["location"] == "/x"
    flash = empty.cookies["polysocial_flash"]
    shown = await client.get("/web/home", headers=jar({**cookies, "polysocial_flash": flash}))
    assert "Please check the form: text:" in shown.text


async def test_a_store_that_fails_is_a_page_naming_it(
    web: tuple[httpx.AsyncClient, App], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service raises what the stores raise when PostgreSQL is unreachable (the reliability suite kills the real
    engine; here only the page's rendering of it is the subject)."""
    client, app = web
    cookies, token, _ = await signed_up(client, "Ada Outage")

    async def unreachable(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("relational", "postgresql://polysocial:***@127.0.0.1:5432/x", "connection refused")

    monkeypatch.setattr(app.services.wallet, "balance", unreachable)
    monkeypatch.setattr(app.services.wallet, "deposit", unreachable)
    page = await client.get("/web/wallet", headers=jar(cookies))
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "The relational store is unavailable right now" in page.text
    assert "postgresql://" not in page.text
    sent = await client.post(
        "/web/wallet/deposit",
        data={"csrf_token": token, "idempotency_key": "k" * 32, "amount": "5.00"},
        headers={"referer": "http://test/web/wallet", **jar(cookies)},
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == "/web/wallet"
    assert "polysocial_flash" in sent.cookies


async def test_an_article_by_its_slug(web: tuple[httpx.AsyncClient, App]) -> None:
    client, app = web
    cookies, _, user_id = await signed_up(client, "Ada Author")
    slug = f"notes-on-the-engine-{user_id}"
    await app.services.posts.create_article(
        user_id, {"slug": slug, "title": "Notes <on> the Engine", "content": "First part.\n\nSecond part."}, {}
    )
    found = await client.get(f"/web/articles?slug={slug.upper()}", headers=jar(cookies))
    assert found.status_code == 303
    assert found.headers["location"] == f"/web/articles/{slug}"
    page = await client.get(found.headers["location"], headers=jar(cookies))
    assert page.status_code == 200
    assert "<h1>Notes &lt;on&gt; the Engine</h1>" in page.text
    assert "<p>Second part.</p>" in page.text
    missing = await client.get("/web/articles/no-such-article", headers=jar(cookies))
    assert missing.status_code == 404
