"""Posts, comments, likes and articles in the documents role.

Each change is one atomic single-document write that also carries its events (docs/ARCHITECTURE.md): creating,
editing or deleting a post, adding a comment (the latest 20 ride in the post, the counter grows in the same write,
and the CommentAdded event fills the comments collection), liking (once per user, exact under concurrency).
A deletion is a tombstone plus PostDeleted, so that the event can reach the feeds.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from polysocial.domain.analytics import PostView
from polysocial.domain.errors import Conflict, Forbidden, NotFound, StoreUnavailable
from polysocial.domain.ids import new_id
from polysocial.domain.posts import (
    COMMENT_ADDED,
    LATEST_COMMENTS,
    LIKES_CHANGED,
    MAX_EXTRA_BYTES,
    POST_CREATED,
    POST_DELETED,
    POST_EDITED,
    InvalidDocument,
    check_extra_fields,
    post_event,
)
from polysocial.logging import get_logger
from polysocial.services.analytics import AnalyticsBuffer
from polysocial.services.social import require_users
from polysocial.stores.base import describe
from polysocial.stores.documents.protocol import ARTICLES, COMMENTS, POSTS, DocumentStore
from polysocial.stores.relational.protocol import RelationalStore

log = get_logger(__name__)

HIDDEN = ("likers", "deleted", "deleted_at")

Doc = dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def public(doc: dict[str, Any], viewer: int | None) -> dict[str, Any]:
    """What a reader sees: no tombstone, no list of likers, but whether the reader liked it."""
    shown = {k: v for k, v in doc.items() if k not in HIDDEN}
    shown["liked_by_me"] = viewer is not None and viewer in (doc.get("likers") or [])
    return shown


def _check_extra(extra: dict[str, Any]) -> None:
    check_extra_fields(extra)
    if len(json.dumps(extra)) > MAX_EXTRA_BYTES:
        raise InvalidDocument(f"extra fields take at most {MAX_EXTRA_BYTES} bytes")


async def live(documents: DocumentStore, collection: str, doc_id: str) -> Doc:
    """The document unless it does not exist or was deleted (NotFound alike: a tombstone is not shown)."""
    found = await documents.get(collection, doc_id)
    if found is None or found.get("deleted"):
        raise NotFound(f"{collection[:-1]} {doc_id} does not exist")
    return found


class Posts:
    """Posts, comments, likes and articles. Every change is one atomic single-document write with its events."""

    def __init__(
        self,
        documents: DocumentStore,
        relational: RelationalStore,
        analytics: AnalyticsBuffer,
        *,
        likes_changed: Callable[[Sequence[int]], Awaitable[None]] | None = None,
    ) -> None:
        self.documents = documents
        self.relational = relational
        self.analytics = analytics
        # Tells the feed that a user's likes changed (its copy of them goes); the LikesChanged event tells it again.
        self.likes_changed = likes_changed

    async def _create(self, collection: str, author_id: int, fields: dict[str, Any], extra: dict[str, Any]) -> Doc:
        _check_extra(extra)
        doc_id = new_id()
        doc = {
            **extra,
            **fields,
            "author_id": author_id,
            "stats": {"likes": 0, "comments": 0, "shares": 0},
            "likers": [],
            "latest_comments": [],
            "created_at": _now(),
            "deleted": False,
        }
        events = [post_event(POST_CREATED, doc_id, {"author_id": author_id, "collection": collection})]
        await self.documents.insert(collection, doc_id, doc, events)
        return {**doc, "id": doc_id}

    async def _edit(self, collection: str, current: Doc, editor: int, fields: Doc, extra: Doc) -> Doc:
        if current["author_id"] != editor:
            raise Forbidden("only the author can edit this")
        _check_extra(extra)
        changes = {**extra, **fields, "updated_at": _now()}
        events = [post_event(POST_EDITED, current["id"], {"fields": sorted(changes)})]
        await self.documents.update(collection, current["id"], changes, events)
        return {**current, **changes}

    # -- posts ------------------------------------------------------------------------------------------------------

    async def create(self, author_id: int, fields: Doc, extra: Doc) -> Doc:
        return public(await self._create(POSTS, author_id, fields, extra), author_id)

    async def get(self, post_id: str, viewer: int) -> Doc:
        """The post as ``viewer`` sees it; the view is counted (buffered, never a round trip)."""
        shown = public(await live(self.documents, POSTS, post_id), viewer)
        self.analytics.record_view(PostView(post_id, viewer, datetime.now(UTC)))
        return shown

    async def get_raw(self, post_id: str) -> Doc:
        """The stored post (tombstones excepted), for other use cases and the tools."""
        return await live(self.documents, POSTS, post_id)

    async def edit(self, post_id: str, editor: int, fields: Doc, extra: Doc) -> Doc:
        current = await live(self.documents, POSTS, post_id)
        return public(await self._edit(POSTS, current, editor, fields, extra), editor)

    async def delete(self, post_id: str, editor: int) -> None:
        current = await live(self.documents, POSTS, post_id)
        if current["author_id"] != editor:
            raise Forbidden("only the author can delete this")
        event = post_event(POST_DELETED, post_id, {"author_id": editor, "collection": POSTS})
        await self.documents.update(POSTS, post_id, {"deleted": True, "deleted_at": _now()}, [event])

    async def by_author(self, author_id: int, viewer: int, *, before: str | None, limit: int) -> list[Doc]:
        found = await self.documents.find_page(
            POSTS, equals={"author_id": author_id, "deleted": False}, before_id=before, limit=limit, stale_ok=True
        )
        if not found:  # no posts, or no such user (404): only then is the account looked up (a round trip saved)
            await require_users(self.relational, author_id)
        return [public(d, viewer) for d in found]

    # -- comments and likes ---------------------------------------------------------------------------------------

    async def add_comment(self, post_id: str, author_id: int, text: str) -> Doc:
        await live(self.documents, POSTS, post_id)
        comment = {"id": new_id(), "post_id": post_id, "author_id": author_id, "text": text, "created_at": _now()}
        event = post_event(COMMENT_ADDED, post_id, {"comment": comment})
        pushed = await self.documents.push_capped(
            POSTS,
            post_id,
            field="latest_comments",
            item=comment,
            keep_last=LATEST_COMMENTS,
            counter="stats.comments",
            events=[event],
        )
        if not pushed:
            raise NotFound(f"post {post_id} does not exist")
        return comment

    async def comments(self, post_id: str, *, before: str | None, limit: int) -> list[Doc]:
        await live(self.documents, POSTS, post_id)
        return await self.documents.find_page(
            COMMENTS, equals={"post_id": post_id}, before_id=before, limit=limit, stale_ok=True
        )

    async def like(self, post_id: str, user_id: int) -> int:
        """Like once (a second like is the same like); the post's like count after it."""
        await live(self.documents, POSTS, post_id)
        events = [post_event(LIKES_CHANGED, post_id, {"user_id": user_id})]
        if await self.documents.add_member(
            POSTS, post_id, field="likers", member=user_id, counter="stats.likes", events=events
        ):
            await self._likes_changed(user_id)
        return int((await live(self.documents, POSTS, post_id))["stats"]["likes"])

    async def unlike(self, post_id: str, user_id: int) -> int:
        await live(self.documents, POSTS, post_id)
        events = [post_event(LIKES_CHANGED, post_id, {"user_id": user_id})]
        if await self.documents.remove_member(
            POSTS, post_id, field="likers", member=user_id, counter="stats.likes", events=events
        ):
            await self._likes_changed(user_id)
        return int((await live(self.documents, POSTS, post_id))["stats"]["likes"])

    async def _likes_changed(self, user_id: int) -> None:
        """The like is stored, with its event: a cache that cannot hear of it now hears of it from the outbox."""
        if self.likes_changed is None:
            return
        try:
            await self.likes_changed([user_id])
        except StoreUnavailable as exc:
            log.warning("likes changed: the feed hears of it from the outbox", user_id=user_id, error=describe(exc))

    # -- articles -------------------------------------------------------------------------------------------------

    async def create_article(self, author_id: int, fields: Doc, extra: Doc) -> Doc:
        try:
            doc = await self._create(ARTICLES, author_id, fields, extra)
        except Conflict:
            raise Conflict(f"the slug {fields.get('slug')!r} is taken") from None
        return public(doc, author_id)

    async def _article(self, slug: str) -> Doc:
        found = await self.documents.find_one(ARTICLES, {"slug": slug})
        if found is None or found.get("deleted"):
            raise NotFound(f"no article at {slug!r}")
        return found

    async def article(self, slug: str, viewer: int) -> Doc:
        return public(await self._article(slug), viewer)

    async def edit_article(self, slug: str, editor: int, fields: Doc, extra: Doc) -> Doc:
        current = await self._article(slug)
        return public(await self._edit(ARTICLES, current, editor, fields, extra), editor)


async def store_comment(documents: DocumentStore, comment: dict[str, Any]) -> None:
    """The CommentAdded handler: every comment in its own collection (idempotent: a redelivery finds it there)."""
    with contextlib.suppress(Conflict):
        await documents.insert(COMMENTS, str(comment["id"]), {k: v for k, v in comment.items() if k != "id"})
