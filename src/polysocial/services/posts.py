"""Posts, comments, likes and articles in the documents role.

Each change is one atomic single-document write that also carries its events (DESIGN.md section 3): creating,
editing or deleting a post, adding a comment (the latest 20 ride in the post, the counter grows in the same write,
and the CommentAdded event fills the comments collection), liking (once per user, exact under concurrency).
A deletion is a tombstone plus PostDeleted, so that the event can reach the feeds.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from polysocial.domain.errors import Conflict, Forbidden, NotFound
from polysocial.domain.ids import new_id
from polysocial.domain.posts import (
    COMMENT_ADDED,
    LATEST_COMMENTS,
    MAX_EXTRA_BYTES,
    POST_CREATED,
    POST_DELETED,
    POST_EDITED,
    InvalidDocument,
    check_extra_fields,
    post_event,
)
from polysocial.stores.documents.protocol import ARTICLES, COMMENTS, POSTS, DocumentStore

HIDDEN = ("likers", "deleted", "deleted_at")


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


async def create(
    documents: DocumentStore, collection: str, author_id: int, fields: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
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
    await documents.insert(collection, doc_id, doc, events)
    return {**doc, "id": doc_id}


async def live(documents: DocumentStore, collection: str, doc_id: str) -> dict[str, Any]:
    found = await documents.get(collection, doc_id)
    if found is None or found.get("deleted"):
        raise NotFound(f"{collection[:-1]} {doc_id} does not exist")
    return found


async def edit(
    documents: DocumentStore, collection: str, doc_id: str, editor: int, fields: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    current = await live(documents, collection, doc_id)
    if current["author_id"] != editor:
        raise Forbidden("only the author can edit this")
    _check_extra(extra)
    changes = {**extra, **fields, "updated_at": _now()}
    await documents.update(collection, doc_id, changes, [post_event(POST_EDITED, doc_id, {"fields": sorted(changes)})])
    return {**current, **changes}


async def delete(documents: DocumentStore, collection: str, doc_id: str, editor: int) -> None:
    current = await live(documents, collection, doc_id)
    if current["author_id"] != editor:
        raise Forbidden("only the author can delete this")
    event = post_event(POST_DELETED, doc_id, {"author_id": editor, "collection": collection})
    await documents.update(collection, doc_id, {"deleted": True, "deleted_at": _now()}, [event])


async def by_author(
    documents: DocumentStore, author_id: int, *, before: str | None, limit: int
) -> list[dict[str, Any]]:
    return await documents.find_page(POSTS, equals={"author_id": author_id, "deleted": False}, before_id=before,
                                     limit=limit)  # fmt: skip


async def add_comment(documents: DocumentStore, post_id: str, author_id: int, text: str) -> dict[str, Any]:
    await live(documents, POSTS, post_id)
    comment = {"id": new_id(), "post_id": post_id, "author_id": author_id, "text": text, "created_at": _now()}
    event = post_event(COMMENT_ADDED, post_id, {"comment": comment})
    pushed = await documents.push_capped(
        POSTS, post_id, field="latest_comments", item=comment, keep_last=LATEST_COMMENTS, counter="stats.comments",
        events=[event],
    )  # fmt: skip
    if not pushed:
        raise NotFound(f"post {post_id} does not exist")
    return comment


async def comments(documents: DocumentStore, post_id: str, *, before: str | None, limit: int) -> list[dict[str, Any]]:
    await live(documents, POSTS, post_id)
    return await documents.find_page(COMMENTS, equals={"post_id": post_id}, before_id=before, limit=limit)


async def set_like(documents: DocumentStore, post_id: str, user_id: int, on: bool) -> int:
    await live(documents, POSTS, post_id)
    if on:
        await documents.add_member(POSTS, post_id, field="likers", member=user_id, counter="stats.likes")
    else:
        await documents.remove_member(POSTS, post_id, field="likers", member=user_id, counter="stats.likes")
    return int((await live(documents, POSTS, post_id))["stats"]["likes"])


async def article_by_slug(documents: DocumentStore, slug: str) -> dict[str, Any]:
    found = await documents.find_one(ARTICLES, {"slug": slug})
    if found is None or found.get("deleted"):
        raise NotFound(f"no article at {slug!r}")
    return found


async def store_comment(documents: DocumentStore, comment: dict[str, Any]) -> None:
    """The CommentAdded handler: every comment in its own collection (idempotent: a redelivery finds it there)."""
    with contextlib.suppress(Conflict):
        await documents.insert(COMMENTS, str(comment["id"]), {k: v for k, v in comment.items() if k != "id"})
