"""Browser tests: the web client in Debian's Chromium, driven by Playwright (which is pointed at the system's browser
and never downloads one), against `polysocial serve`'s application over real HTTP on the embedded engines.

Without a Chromium on the machine the suite is skipped with the install command, unless
POLYSOCIAL_REQUIRE_BROWSER=1 (CI), where a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Response, sync_playwright

from polysocial.bootstrap import bootstrap
from polysocial.config import Settings
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.services.accounts import Registration
from tests.conftest import isolated_settings
from tests.support.live import live_server

PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@example.com"
WIDTH = 1280
AXE = next((Path(__file__).parent / "vendor").glob("axe-core-*/axe.min.js"))
INSTALL = "apt-get install chromium (Debian's package; Playwright is pointed at it)"


def chromium_path() -> str | None:
    configured = os.environ.get("POLYSOCIAL_CHROMIUM")
    if configured:
        return configured
    return next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)


@pytest.fixture(scope="session")
def chromium() -> str:
    found = chromium_path()
    if found is None:
        reason = f"no Chromium on this machine: {INSTALL}"
        if os.environ.get("POLYSOCIAL_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (POLYSOCIAL_REQUIRE_BROWSER=1)")
        pytest.skip(reason)
    return found


@dataclass
class Site:
    url: str
    settings: Settings
    admin_email: str = ADMIN_EMAIL
    people: dict[str, str] = field(default_factory=dict)  # name -> email of the users the tests signed up


async def _create_admin(settings: Settings) -> None:
    """As `polysocial admin create` does: the API can never make an administrator."""
    state = await bootstrap(settings)
    try:
        me = await state.services.accounts.register(Registration(ADMIN_EMAIL, PASSWORD, "Ada Admin", date(1980, 1, 1)))
        await state.services.accounts.make_admin(me.email)
    finally:
        await state.aclose()


@pytest.fixture(scope="session")
def site(embedded_engines: EmbeddedEngines) -> Iterator[Site]:
    """The application on a database and graph of its own, with its relay running (as `polysocial serve`)."""
    settings = isolated_settings(embedded_engines, f"browser_{uuid.uuid4().hex[:6]}")
    with ThreadPoolExecutor(1) as worker:  # a loop of its own: pytest-asyncio's runs in this thread
        worker.submit(asyncio.run, _create_admin(settings)).result(timeout=120)
    with live_server(settings) as url:
        yield Site(url, settings)


# Module scope, not session: Playwright's sync API runs an event loop in this thread while it is started, and the
# asyncio tests that come after the browser suite need the thread without one.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium: str) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
    yield launched
    launched.close()


class Watched:
    """What a browser context saw that a test must not: console errors (a CSP violation is one), a script, style or
    image that failed to load, any 5xx, and any request that left this machine (the pages must work offline)."""

    def __init__(self, base_url: str, allowed_console: tuple[str, ...] = ()) -> None:
        self.base_url = base_url
        self.allowed_console = allowed_console
        self.console_errors: list[str] = []
        self.outside: list[str] = []

    def attach(self, context: BrowserContext) -> None:
        def route(route: object) -> None:
            request = route.request  # type: ignore[attr-defined]
            if request.url.startswith((self.base_url, "data:", "about:", "blob:")):
                route.continue_()  # type: ignore[attr-defined]
            else:
                self.outside.append(request.url)
                route.abort()  # type: ignore[attr-defined]

        context.route("**/*", route)
        context.on("console", lambda msg: self._console(msg.type, msg.text))
        context.on("response", self._response)

    def _console(self, kind: str, text: str) -> None:
        # "Failed to load resource" is the browser's line for any 4xx or 5xx: judged by _response, which knows the
        # request (a page that answers 403 or 404 on purpose is a test's subject; a missing script is a fault).
        expected = ("Failed to load resource: the server responded with a status of", *self.allowed_console)
        if kind == "error" and not any(known in text for known in expected):
            self.console_errors.append(text)

    def _response(self, response: Response) -> None:
        if response.status >= 500 or (response.status >= 400 and response.request.resource_type != "document"):
            self.console_errors.append(f"{response.status} for {response.request.resource_type} {response.url}")


@pytest.fixture
def new_context(browser: Browser, site: Site) -> Iterator[object]:
    """Make browser contexts (each a separate person: its own cookies); each is checked for console errors and
    requests to other hosts when the test ends."""
    made: list[tuple[BrowserContext, Watched]] = []

    def make(allowed_console: tuple[str, ...] = ()) -> BrowserContext:
        context = browser.new_context(base_url=site.url, viewport={"width": WIDTH, "height": 900})
        context.set_default_timeout(15_000)
        watched = Watched(site.url, allowed_console)
        watched.attach(context)
        made.append((context, watched))
        return context

    yield make
    for context, watched in made:
        context.close()
        assert not watched.outside, f"pages requested other hosts: {watched.outside}"
        assert not watched.console_errors, f"console errors (a CSP violation is one): {watched.console_errors}"


@dataclass
class Person:
    page: Page
    name: str
    email: str
    user_id: int


def sign_up(page: Page, name: str) -> Person:
    email = f"{name.lower().replace(' ', '.')}-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/web/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password (at least 8 characters)").fill(PASSWORD)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Date of birth").fill("1990-05-17")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/web/home")
    href = page.get_by_role("link", name="Profile").get_attribute("href") or ""
    return Person(page, name, email, int(href.rsplit("/", 1)[-1]))


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/web/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/web/home")


def flash(page: Page) -> str:
    return page.locator("p.flash").first.inner_text()
