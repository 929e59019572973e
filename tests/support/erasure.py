"""An account with something in every store, and the check that its erasure left no trace, read from the stores
themselves (not through the erasure's own report)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import httpx

from polysocial.bootstrap import App
from polysocial.domain.accounts import erased_email
from polysocial.stores.documents.protocol import ARTICLES, COMMENTS, POSTS
from polysocial.stores.keyvalue.protocol import TimelineKind
from polysocial.stores.postgres_common import PostgresBackedStore
from tests.support.accounts import PASSWORD, SignedUser, sign_up, sign_up_admin


@dataclass
class Victim:
    """The account to erase, the people around it, and the things it wrote."""

    me: SignedUser
    name: str
    bio: str
    admin: SignedUser
    ada: SignedUser  # follows the victim and is followed by it; the victim liked and commented on her post
    bob: SignedUser  # follows the victim
    ada_post: str
    posts: list[str] = field(default_factory=list)
    articles: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # every text the victim wrote, anywhere
    ledger_entries: int = 0


async def populate(client: httpx.AsyncClient, app: App) -> Victim:
    """A victim with a profile, follows both ways, posts, an article, comments and likes on others' posts and likes
    of its own posts by others, money moved, an order, a cart, a leaderboard score; others read their feeds. The
    relay is drained."""
    tag = uuid.uuid4().hex[:8]
    name, bio = f"Vera Erasable {tag}", f"the bio of {tag}"
    admin = await sign_up_admin(client, app)
    me = await sign_up(client, name=name, bio=bio)
    ada, bob = await sign_up(client, name="Ada"), await sign_up(client, name="Bob")
    victim = Victim(me, name, bio, admin, ada, bob, ada_post="")
    for follower, followee in ((me, ada), (ada, me), (bob, me)):
        followed = await client.post(f"/users/{followee.user_id}/follow", headers=follower.auth)
        assert followed.status_code in (200, 201, 204), followed.text
    victim.ada_post = (await client.post("/posts", json={"text": "ada's post"}, headers=ada.auth)).json()["id"]
    for i in range(3):
        text = f"secret post {i} of {tag}"
        created = await client.post("/posts", json={"text": text}, headers=me.auth)
        assert created.status_code == 201, created.text
        victim.posts.append(created.json()["id"])
        victim.texts.append(text)
    article = {"slug": f"vera-{tag}", "title": f"an article by {tag}", "content": f"the content of {tag}"}
    made = await client.post("/articles", json=article, headers=me.auth)
    assert made.status_code == 201, made.text
    victim.articles.append(made.json()["id"])
    victim.texts += [article["title"], article["content"]]
    for i in range(2):
        text = f"secret comment {i} of {tag}"
        said = await client.post(f"/posts/{victim.ada_post}/comments", json={"text": text}, headers=me.auth)
        assert said.status_code == 201, said.text
        victim.texts.append(text)
    await client.post(f"/posts/{victim.ada_post}/comments", json={"text": "ada replies"}, headers=ada.auth)
    await client.post(f"/posts/{victim.posts[0]}/comments", json={"text": "ada on vera's post"}, headers=ada.auth)
    assert (await client.put(f"/posts/{victim.ada_post}/like", headers=me.auth)).status_code == 200
    assert (await client.put(f"/posts/{victim.posts[0]}/like", headers=ada.auth)).status_code == 200
    goods = {"name": f"p {tag}", "price": "5.00", "stock": 10}
    product = await client.post("/products", json=goods, headers=admin.auth)
    assert product.status_code == 201, product.text
    product_id = product.json()["product_id"]
    assert (await client.post("/wallet/deposits", json={"amount": "50.00"}, headers=me.auth)).status_code == 201
    order = await client.post("/orders", json={"items": [{"product_id": product_id, "quantity": 1}]}, headers=me.auth)
    assert order.status_code == 201, order.text
    cart = await client.post("/cart/items", json={"product_id": product_id, "quantity": 2}, headers=me.auth)
    assert cart.status_code == 200, cart.text
    assert (await client.post("/leaderboards/arcade/scores", json={"score": 42}, headers=me.auth)).status_code == 201
    await app.relay.drain()
    for reader in (me, ada, bob):  # live home timelines, holding the victim's posts
        assert (await client.get("/feed", headers=reader.auth)).status_code == 200
    assert (await client.get(f"/users/{me.user_id}", headers=ada.auth)).status_code == 200  # cached
    victim.ledger_entries = len(await ledger_rows(app, me.user_id))
    return victim


async def ledger_rows(app: App, user_id: int) -> list[tuple[object, ...]]:
    return await rows(app, "SELECT entry_id, amount FROM ledger_entries WHERE user_id = %s", user_id)


async def rows(app: App, query: str, *params: object) -> list[tuple[object, ...]]:
    relational = app.stores.relational
    assert isinstance(relational, PostgresBackedStore)
    async with relational.pool.connection() as conn:
        return list(await (await conn.execute(query, params)).fetchall())


async def erased(app: App, user_id: int, *, timeout_s: float = 60) -> None:
    """Drive the relay until the erasure is complete (its handler waits, deferred, for older events)."""
    deadline = time.monotonic() + timeout_s
    while not (left := await app.services.erasure.progress(user_id)).complete:
        assert time.monotonic() < deadline, f"the erasure did not finish: {left.found}"
        await app.relay.run_once()
        await asyncio.sleep(0.05)


async def assert_no_trace(app: App, client: httpx.AsyncClient, victim: Victim) -> None:
    """Read every store directly: nothing personal of the victim is left, and the ledger is kept, anonymised."""
    uid = victim.me.user_id
    stores = app.stores
    # relational: the anonymised row, no profile, no follows, no cart, no session copies; the ledger kept
    assert await rows(app, "SELECT email FROM users WHERE user_id = %s", uid) == [(erased_email(uid),)]
    for table, column in (
        ("user_profiles", "user_id"),
        ("cart_items", "user_id"),
        ("session_backups", "user_id"),
        ("idempotency_keys", "user_id"),
        ("follow_record", "follower"),
        ("follow_record", "followee"),
    ):
        assert await rows(app, f"SELECT 1 FROM {table} WHERE {column} = %s", uid) == [], table  # noqa: S608
    assert len(await ledger_rows(app, uid)) == victim.ledger_entries > 0
    assert await rows(app, "SELECT 1 FROM outbox") == []
    assert await rows(app, "SELECT 1 FROM outbox_dead_letter") == []
    # documents: tombstones without content; no comment left anywhere; no like
    for collection, ids in ((POSTS, victim.posts), (ARTICLES, victim.articles)):
        for doc_id in ids:
            doc = await stores.documents.get(collection, doc_id)
            assert doc is not None
            assert set(doc) == {"id", "author_id", "deleted", "erased", "deleted_at"}, doc
    assert await stores.documents.find_page(COMMENTS, equals={"author_id": uid}, before_id=None, limit=10) == []
    ada_post = await stores.documents.get(POSTS, victim.ada_post)
    assert ada_post is not None
    assert uid not in ada_post["likers"]
    assert ada_post["stats"]["likes"] == 0
    assert [c["author_id"] for c in ada_post["latest_comments"]] == [victim.ada.user_id]
    assert ada_post["stats"]["comments"] == 1  # ada's own reply
    left = [c["text"] for c in await stores.documents.find_page(COMMENTS, equals={}, before_id=None, limit=100)]
    assert not set(left) & set(victim.texts)
    # graph: no node, no edge
    assert await stores.graph.missing_users([uid]) == [uid]
    for other in (victim.ada, victim.bob):
        assert uid not in await stores.graph.followers(other.user_id, after=0, limit=100)
        assert uid not in await stores.graph.following(other.user_id, after=0, limit=100)
    # keyvalue: no live cart, no score, no timeline; the others' feeds show none of the victim's posts
    assert await stores.keyvalue.cart_get(uid) is None
    assert await stores.keyvalue.board_scores(str(uid)) == {}
    if stores.timelines is not None:
        for kind in TimelineKind:
            assert not await stores.timelines.timeline_is_live(kind, uid)
        for reader in (victim.ada, victim.bob):
            held = await stores.timelines.timeline_read(TimelineKind.HOME, reader.user_id, before=None, limit=100)
            assert held is None or not set(held[0]) & set(victim.posts)
    for reader in (victim.ada, victim.bob):
        feed = (await client.get("/feed", headers=reader.auth)).json()
        assert not {item["id"] for item in feed["items"]} & set(victim.posts)
    # the API: no such user, and the old password opens nothing
    assert (await client.get(f"/users/{uid}", headers=victim.ada.auth)).status_code == 404
    login = await client.post("/auth/login", json={"email": victim.me.email, "password": PASSWORD})
    assert login.status_code == 401
    assert (await client.get("/users/me", headers=victim.me.auth)).status_code == 401
