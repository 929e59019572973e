"""Every page, with data on it, checked by axe-core (vendored from the npm registry, tests/browser/vendor) for
accessibility: no serious or critical violation. With POLYSOCIAL_SCREENSHOTS=<folder> the same walk saves a
screenshot of each page, 1280 px wide (scripts/screenshots regenerates docs/screenshots/ that way)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import AXE, Person, sign_in, sign_up
from tests.browser.test_flows import (
    admin_page,
    create_event,
    create_product,
    deposit,
    follow,
    post,
    reload_until,
)

NewContext = Callable[[], BrowserContext]
BLOCKING = {"serious", "critical"}


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now. The script is evaluated through the browser's debugging
    protocol, which the page's Content-Security-Policy does not govern (the page itself may load no such script)."""
    page.evaluate(AXE.read_text())
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return list(result["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['impact']}: {v['id']}: {v['help']} at {[n['target'] for n in v['nodes'][:3]]}" for v in violations
    )


@pytest.fixture
def screenshots() -> Path | None:
    folder = os.environ.get("POLYSOCIAL_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def populated(new_context: NewContext) -> tuple[Person, Person, Page, str, str]:
    """A small world: two people who follow each other, posts, a comment, money moved, an order, an event."""
    admin = admin_page(new_context)
    product = f"Blue notebook {os.getpid()}"
    create_product(admin, product, "12.50", 5)
    event_url = create_event(admin, "Poetry night", "2030-03-14T19:30", 24)

    ada = sign_up(new_context().new_page(), "Ada Lovelace")
    grace = sign_up(new_context().new_page(), "Grace Hopper")
    post(ada, "The Analytical Engine weaves algebraic patterns just as the Jacquard loom weaves flowers and leaves.")
    post(grace, "It is often easier to ask for forgiveness than to ask for permission.")
    follow(ada, grace)
    follow(grace, ada)
    deposit(ada.page, "100.00")
    page = ada.page
    page.goto("/web/shop")
    page.get_by_role("button", name=f"Add to cart: {product}").click()
    page.goto("/web/cart")
    page.get_by_role("button", name="Check out").click()
    expect(page.locator("p.flash")).to_contain_text("placed and paid")
    page.goto("/web/shop")
    page.get_by_role("button", name=f"Add to cart: {product}").click()
    page.goto(event_url)
    page.get_by_role("button", name="Book seat 7").click()
    page.goto("/web/leaderboards")
    page.get_by_label("Your score").first.fill("4200")
    page.get_by_role("button", name="Submit").first.click()
    page.goto("/web/home")
    reload_until(page, lambda: page.locator("#timeline article.post").count() >= 2)
    return ada, grace, admin, event_url, product


def test_every_page_has_no_serious_accessibility_violation(new_context: NewContext, screenshots: Path | None) -> None:
    ada, grace, admin, event_url, _ = populated(new_context)
    grace.page.goto("/web/home")
    reload_until(grace.page, lambda: grace.page.locator("#timeline article.post").count() >= 2)
    first_post = grace.page.locator("#timeline article.post a.when").first.get_attribute("href") or ""
    grace.page.goto(first_post)
    grace.page.get_by_label("Add a comment").fill("And it computes Bernoulli numbers.")
    grace.page.get_by_role("button", name="Comment").click()

    visitor = new_context().new_page()
    pages: list[tuple[str, Page, str]] = [
        ("landing", visitor, "/"),
        ("signup", visitor, "/web/signup"),
        ("signin", visitor, "/web/signin"),
        ("home", ada.page, "/web/home"),
        ("profile", ada.page, f"/web/users/{grace.user_id}"),
        ("followers", ada.page, f"/web/users/{grace.user_id}/followers"),
        ("post", ada.page, first_post),
        ("discover", ada.page, "/web/discover"),
        ("wallet", ada.page, "/web/wallet"),
        ("shop", ada.page, "/web/shop"),
        ("cart", ada.page, "/web/cart"),
        ("orders", ada.page, "/web/orders"),
        ("events", ada.page, "/web/events"),
        ("event", ada.page, event_url),
        ("leaderboards", ada.page, "/web/leaderboards"),
        ("admin", admin, "/web/admin"),
        ("not-found", ada.page, "/web/posts/01JH0000000000000000000000"),
    ]
    failures = []
    for name, page, path in pages:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
        if blocking:
            failures.append(f"{name} ({path}):\n{describe(blocking)}")
        if screenshots is not None:
            page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    assert not failures, "\n\n".join(failures)


def test_the_docs_pages_have_no_critical_accessibility_violation(new_context: NewContext) -> None:
    """Swagger UI and ReDoc are other projects' pages: held to "no critical" (their serious findings are theirs)."""
    page = new_context(("Loading the image 'https://cdn.redoc.ly/",)).new_page()  # type: ignore[call-arg]
    for path, ready in (("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")):
        page.goto(path)
        expect(page.locator(ready).first).to_be_visible()
        critical = [v for v in axe_violations(page) if v["impact"] == "critical"]
        assert not critical, describe(critical)


def test_a_signed_in_person_is_sent_back_where_they_were_going(new_context: NewContext) -> None:
    page = new_context().new_page()
    person = sign_up(page, "Ada Returning")
    page.get_by_role("button", name="Sign out").click()
    page.goto("/web/wallet")
    assert "/web/signin?next=/web/wallet" in page.url
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/web/wallet")
    # a wrong password: a readable message on the sign-in page, never a JSON body
    page.get_by_role("button", name="Sign out").click()
    page.goto("/web/signin")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("p.flash.error")).to_be_visible()
    assert "/web/signin" in page.url
    sign_in(page, person.email)
