"""The web client's flows, by hand as a person would do them, in a real browser."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from decimal import Decimal

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import ADMIN_EMAIL, Person, Site, flash, sign_in, sign_up

NewContext = Callable[[], BrowserContext]


def reload_until(page: Page, check: Callable[[], bool], *, timeout_s: float = 20) -> None:
    """Reload until ``check()`` holds: for what the outbox relay delivers a moment after the request."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{page.url} did not show the expected change within {timeout_s} s"
        time.sleep(0.3)
        page.reload()


def post(person: Person, text: str) -> None:
    page = person.page
    page.goto("/web/home")
    page.get_by_label("What is happening?").fill(text)
    page.get_by_role("button", name="Post", exact=True).click()
    # htmx puts the new post on top of the timeline without a page load
    expect(page.locator("#timeline article.post").first.locator("p.text")).to_have_text(text)


def follow(person: Person, other: Person) -> None:
    person.page.goto(f"/web/users/{other.user_id}")
    person.page.get_by_role("button", name="Follow", exact=True).click()
    expect(person.page.get_by_role("button", name="Unfollow")).to_be_visible()


def balance(page: Page) -> Decimal:
    page.goto("/web/wallet")
    return Decimal(page.locator("#balance").inner_text().replace(",", ""))


def deposit(page: Page, amount: str) -> None:
    page.goto("/web/wallet")
    page.get_by_label("Amount").first.fill(amount)
    page.get_by_role("button", name="Deposit").click()
    expect(page.locator("p.flash")).to_contain_text("Deposited")


def test_sign_up_post_and_a_follower_sees_it_in_their_timeline(new_context: NewContext) -> None:
    ada = sign_up(new_context().new_page(), "Ada Writer")
    post(ada, "Hello from the web client")
    bob = sign_up(new_context().new_page(), "Bob Reader")
    follow(bob, ada)
    bob.page.goto("/web/home")
    reload_until(bob.page, lambda: "Hello from the web client" in bob.page.locator("#timeline").inner_text())
    item = bob.page.locator("#timeline article.post").filter(has_text="Hello from the web client")
    expect(item.locator("a.author")).to_have_text("Ada Writer")
    # the profile: counts, the follow state, degrees of separation
    ada.page.goto(f"/web/users/{bob.user_id}")
    expect(ada.page.locator(".relation")).to_contain_text("follows you")
    expect(ada.page.locator(".counts")).to_contain_text("1 following")


def test_load_more_pages_the_timeline_by_cursor(new_context: NewContext) -> None:
    ada = sign_up(new_context().new_page(), "Ada Prolific")
    for n in range(22):
        ada.page.request.post(  # the compose form, sent 22 times (as the page would, with its token)
            "/web/posts", form={"text": f"numbered post {n:02d}", "csrf_token": csrf_of(ada.page)}
        )
    page = ada.page
    reload_until(page, lambda: page.locator("#timeline article.post").count() == 20)
    page.get_by_role("link", name="Load more").click()
    expect(page.locator("#timeline article.post")).to_have_count(22)
    texts = page.locator("#timeline article.post p.text").all_inner_texts()
    assert texts == [f"numbered post {n:02d}" for n in range(21, -1, -1)]
    assert page.url.endswith("/web/home")  # htmx appended the page; no navigation


def csrf_of(page: Page) -> str:
    if not page.url.startswith("http"):
        page.goto("/web/home")
    return page.locator("input[name=csrf_token]").first.get_attribute("value") or ""


def test_like_in_place_and_comment(new_context: NewContext) -> None:
    ada = sign_up(new_context().new_page(), "Ada Liked")
    post(ada, "Like me, comment on me")
    bob = sign_up(new_context().new_page(), "Bob Liker")
    follow(bob, ada)
    page = bob.page
    page.goto("/web/home")
    reload_until(page, lambda: page.locator("#timeline article.post").count() > 0)
    item = page.locator("#timeline article.post").first
    item.get_by_role("button", name="Like").click()
    expect(item.get_by_role("button", name="Unlike")).to_be_visible()  # swapped in place by htmx
    expect(item.locator("form.like .count")).to_have_text("1 like")
    assert page.url.endswith("/web/home")
    item.get_by_role("button", name="Unlike").click()
    expect(item.locator("form.like .count")).to_have_text("0 likes")
    item.get_by_role("button", name="Like").click()
    expect(item.locator("form.like .count")).to_have_text("1 like")

    item.get_by_role("link", name="0 comments").click()
    page.get_by_label("Add a comment").fill("Nice post, Ada")
    page.get_by_role("button", name="Comment").click()
    expect(page.locator("article.comment p.text")).to_have_text(["Nice post, Ada"])
    expect(page.locator("article.post.single")).to_contain_text("1 comment")
    expect(page.locator("article.post.single form.like .count")).to_have_text("1 like")
    # only the author gets the edit and delete controls
    expect(page.get_by_role("button", name="Delete this post")).to_have_count(0)
    ada.page.goto(page.url)
    ada.page.get_by_label("Text").fill("Like me, comment on me (edited)")
    ada.page.get_by_role("button", name="Save").click()
    expect(ada.page.locator("article.post.single p.text")).to_have_text("Like me, comment on me (edited)")
    ada.page.get_by_role("button", name="Delete this post").click()
    expect(ada.page.locator("p.flash")).to_have_text("Post deleted.")
    expect(ada.page.locator("article.post")).to_have_count(0)  # the author's profile, without it
    response = bob.page.goto(page.url.split("#", 1)[0] + "?gone=1")  # a navigation, not a jump within the page
    assert response is not None
    assert response.status == 404


def test_transfer_money_and_a_double_submit_is_one_transfer(new_context: NewContext) -> None:
    ada = sign_up(new_context().new_page(), "Ada Payer")
    bob = sign_up(new_context().new_page(), "Bob Payee")
    deposit(ada.page, "100.00")
    page = ada.page
    page.get_by_label("To user").fill(str(bob.user_id))
    page.locator("#transfer-amount").fill("30.00")
    form = page.locator("form[action='/web/wallet/transfer']")
    sent = {
        field: form.locator(f"input[name={field}]").get_attribute("value") or ""
        for field in ("csrf_token", "idempotency_key")
    }
    page.get_by_role("button", name="Send").click()
    expect(page.locator("p.flash")).to_contain_text(f"Sent 30.00 to user {bob.user_id}")
    # the same form again (a double click, a re-post on reload): the same key, one effect
    again = page.request.post(
        "/web/wallet/transfer", form={**sent, "to_user_id": str(bob.user_id), "amount": "30.00"}, max_redirects=0
    )
    assert again.status == 303
    assert balance(page) == Decimal("70.00")
    expect(page.locator("p.flash")).to_contain_text("already sent once")
    assert balance(bob.page) == Decimal("30.00")
    expect(bob.page.locator("table.ledger")).to_contain_text("30.00")
    # not enough money: a readable message, nothing moved
    page.get_by_label("To user").fill(str(bob.user_id))
    page.locator("#transfer-amount").fill("1000.00")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("p.flash.error")).to_contain_text("Not enough money")
    assert balance(page) == Decimal("70.00")


def admin_page(new_context: NewContext) -> Page:
    page = new_context().new_page()
    sign_in(page, ADMIN_EMAIL)
    page.goto("/web/admin")
    return page


def create_product(admin: Page, name: str, price: str, stock: int) -> None:
    admin.goto("/web/admin")
    admin.get_by_label("Name", exact=True).first.fill(name)
    admin.get_by_label("Price").fill(price)
    admin.get_by_label("Stock").fill(str(stock))
    admin.get_by_role("button", name="Create product").click()
    expect(admin.locator("p.flash")).to_contain_text(f"({name}) created")


def test_two_browsers_race_for_the_last_item(new_context: NewContext) -> None:
    admin = admin_page(new_context)
    name = f"Last lamp {time.monotonic_ns()}"
    create_product(admin, name, "20.00", 1)
    buyers = [sign_up(new_context().new_page(), f"Buyer {n}") for n in (1, 2)]
    for buyer in buyers:
        deposit(buyer.page, "50.00")
        buyer.page.goto("/web/shop")
        buyer.page.get_by_role("button", name=f"Add to cart: {name}").click()
        expect(buyer.page.locator("p.flash")).to_contain_text("Added to your cart")
        buyer.page.goto("/web/cart")
    for buyer in buyers:  # both press "check out" before either answer is back
        buyer.page.get_by_role("button", name="Check out").click(no_wait_after=True)
    outcomes = []
    for buyer in buyers:
        buyer.page.wait_for_url(re.compile(r".*/web/(orders|cart)$"))
        outcomes.append(flash(buyer.page))
    won = [o for o in outcomes if "is placed and paid" in o]
    lost = [o for o in outcomes if o.startswith("Out of stock")]
    assert len(won) == 1, outcomes
    assert len(lost) == 1, outcomes
    loser = buyers[outcomes.index(lost[0])]
    assert balance(loser.page) == Decimal("50.00")  # nothing was charged
    winner = buyers[outcomes.index(won[0])]
    assert balance(winner.page) == Decimal("30.00")
    winner.page.goto("/web/orders")
    expect(winner.page.locator("article.order")).to_have_count(1)
    # cancel: refunded and restocked
    winner.page.get_by_role("button", name="Cancel and refund").click()
    expect(winner.page.locator("p.flash")).to_contain_text("cancelled")
    assert balance(winner.page) == Decimal("50.00")
    # the administrator restocks it
    admin.goto("/web/admin")
    row = admin.locator("tr", has_text=name)
    expect(row.locator("td.num").nth(1)).to_have_text("1")  # the cancelled order's unit is back
    row.get_by_label(f"Quantity to add to {name}").fill("4")
    row.get_by_role("button", name="Restock").click()
    expect(admin.locator("p.flash")).to_contain_text("5 in stock")


def create_event(admin: Page, name: str, starts_at: str, seats: int) -> str:
    """The event's page address, from the administrators' form."""
    admin.goto("/web/admin")
    admin.get_by_label("Name", exact=True).last.fill(name)
    admin.get_by_label("Starts (UTC)").fill(starts_at)
    admin.get_by_label("Seats").fill(str(seats))
    admin.get_by_role("button", name="Create event").click()
    admin.wait_for_url(re.compile(r".*/web/events/\d+$"))
    return admin.url


def test_two_browsers_race_for_one_seat(new_context: NewContext) -> None:
    event_url = create_event(admin_page(new_context), "Concert", "2030-06-01T20:00", 4)
    fans = [sign_up(new_context().new_page(), f"Fan {n}") for n in (1, 2)]
    for fan in fans:
        fan.page.goto(event_url)
    for fan in fans:
        fan.page.get_by_role("button", name="Book seat 2").click(no_wait_after=True)
    messages = []
    for fan in fans:
        fan.page.wait_for_load_state()
        expect(fan.page.locator("p.flash")).to_be_visible()
        messages.append(flash(fan.page))
    assert sorted(messages) == sorted(
        ["Seat 2 is yours.", "Someone else booked seat 2 first. Please pick another seat."]
    ), messages
    winner = fans[messages.index("Seat 2 is yours.")]
    expect(winner.page.get_by_label("Seat 2, yours")).to_be_visible()
    loser = fans[1 - fans.index(winner)]
    expect(loser.page.get_by_label("Seat 2, taken")).to_be_visible()


def test_an_administrator_sees_the_relay_and_the_latency_chart(new_context: NewContext, site: Site) -> None:
    admin = admin_page(new_context)
    expect(admin.locator("#relay-pending")).to_have_text(re.compile(r"^\d+$"))
    expect(admin.locator("#relay-dead")).to_have_text(re.compile(r"^\d+$"))
    # the API's requests are recorded in the background and flushed every few seconds: the chart fills in
    reload_until(admin, lambda: admin.locator("#latency-chart svg polyline").count() > 0, timeout_s=30)
    expect(admin.locator("#latency-chart svg")).to_have_attribute("role", "img")
    # someone who is not an administrator is refused, with a page that says so
    person = sign_up(new_context().new_page(), "Not Admin")
    response = person.page.goto("/web/admin")
    assert response is not None
    assert response.status == 403
    expect(person.page.locator("h1")).to_have_text("Not allowed")


def test_sign_out_ends_the_session(new_context: NewContext) -> None:
    context = new_context()
    ada = sign_up(context.new_page(), "Ada Leaving")
    token = next(c["value"] for c in context.cookies() if c["name"] == "polysocial_session")
    ada.page.get_by_role("button", name="Sign out").click()
    ada.page.wait_for_url(re.compile(r".*/$"))
    expect(ada.page.locator("p.flash")).to_have_text("You are signed out.")
    ada.page.goto("/web/home")
    assert "/web/signin" in ada.page.url
    # the old cookie is dead on the server too, not only forgotten by this browser
    replay = ada.page.request.get("/web/home", headers={"Cookie": f"polysocial_session={token}"}, max_redirects=0)
    assert replay.status == 303
    assert replay.headers["location"].startswith("/web/signin")
