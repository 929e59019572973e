"""The web client's defences, tried in the browser: forged forms, script in user content, the cookie's flags, the
Content-Security-Policy; and the API documentation pages working with no internet access."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import sign_up

NewContext = Callable[[], BrowserContext]

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def test_a_form_without_its_csrf_token_is_refused(new_context: NewContext) -> None:
    context = new_context()
    ada = sign_up(context.new_page(), "Ada Guarded")
    # the session cookie goes along (as it would from a page that tricked the browser), the token does not
    forged = ada.page.request.post("/web/posts", form={"text": "forged post"}, max_redirects=0)
    assert forged.status == 403
    assert "cannot be accepted" in forged.text()
    wrong = ada.page.request.post("/web/posts", form={"text": "forged", "csrf_token": "0" * 64}, max_redirects=0)
    assert wrong.status == 403
    ada.page.goto(f"/web/users/{ada.user_id}")
    expect(ada.page.locator("article.post")).to_have_count(0)  # nothing was posted
    # another person's token does not work with my session either
    bob = sign_up(new_context().new_page(), "Bob Other")
    bobs_token = bob.page.locator("input[name=csrf_token]").first.get_attribute("value")
    stolen = ada.page.request.post("/web/posts", form={"text": "x", "csrf_token": bobs_token or ""}, max_redirects=0)
    assert stolen.status == 403


def test_a_script_in_a_post_shows_as_text(new_context: NewContext) -> None:
    ada = sign_up(new_context().new_page(), "Ada Mischief")
    page = ada.page
    page.get_by_label("What is happening?").fill(XSS)
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator("#timeline article.post p.text").first).to_have_text(XSS)  # swapped in by htmx
    page.goto(f"/web/users/{ada.user_id}")  # and rendered by the server
    expect(page.locator("article.post p.text").first).to_have_text(XSS)
    page.locator("article.post a.when").first.click()
    expect(page.locator("article.post.single p.text")).to_have_text(XSS)
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("article.post script, article.post img").count() == 0


def test_the_session_cookie_flags_and_the_page_headers(new_context: NewContext) -> None:
    context = new_context()
    page = context.new_page()
    sign_up(page, "Ada Cookie")
    session = next(c for c in context.cookies() if c["name"] == "polysocial_session")
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["secure"] is False  # served over plain HTTP here; over HTTPS it is Secure (tests/web)
    assert page.evaluate("document.cookie").find("polysocial_session") == -1  # no script can read it
    response = page.goto("/web/home")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


def test_the_api_documentation_renders_offline(new_context: NewContext) -> None:
    """Every request to another host is aborted (the fixture fails the test if one was even tried). The one console
    error allowed: ReDoc's footer logo, refused by the docs pages' Content-Security-Policy before any request."""
    page = new_context(("Loading the image 'https://cdn.redoc.ly/",)).new_page()  # type: ignore[call-arg]
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("polysocial")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.goto("/redoc")
    expect(page.locator("h1").first).to_contain_text("polysocial")
    expect(page.locator("h2", has_text="Create an account").first).to_be_visible()
