"""An account's export and erasure across the six roles (`polysocial accounts export|delete`, and /admin/accounts).

Erasure is a saga through the outbox, so that a crash anywhere leaves it to be finished, never half done:

1. One PostgreSQL transaction anonymises the users row (kept: the ledger, orders, payments and seats the law requires
   refer to it), deletes the profile, follows, durable cart, session copies, idempotency answers and dead letters
   about the account, and writes an ``Unfollowed`` event per follow it ended plus ``AccountDeleted``. Sessions end
   when it commits (and again in step 2).
2. The relay delivers ``Unfollowed`` (the graph loses the edges, followers' timelines lose the posts) and then
   ``AccountDeleted`` to :meth:`Erasure.erase`, which first waits (``Deferred``) until no older event about the
   account is still on its way, in either outbox: a follow, a cart change, a comment or a post delivered after the
   erasure would bring back what it removed. Then, each step idempotent:
   - posts and articles become tombstones with no content (the anonymised author id stays, for the feeds'
     take-out), with ``PostDeleted`` for those that were live; the account's comments leave the posts' latest
     comments and their collection; its likes are withdrawn;
   - the graph node goes with its edges; timelines, the live cart, leaderboard entries, the celebrity mark and
     cached profile and card go; sessions end; the PostgreSQL sweep runs again.

The timeseries role holds views per post and API metrics, nothing per user: there is nothing to erase there.
A crash in the middle of a post's comment erasure may leave that post's comment counter high by the comments
erased; `polysocial reconcile` repairs counters.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python

from polysocial import failpoints
from polysocial.domain.errors import NotFound, StoreUnavailable
from polysocial.domain.events import Event, account_deleted, unfollowed
from polysocial.domain.posts import POST_DELETED, post_event
from polysocial.events.retry import Deferred
from polysocial.logging import get_logger
from polysocial.services.passwords import Passwords
from polysocial.services.profiles import invalidate_profile
from polysocial.services.sessions import Sessions
from polysocial.stores.base import describe
from polysocial.stores.documents.protocol import ARTICLES, COMMENTS, POSTS
from polysocial.stores.factory import Stores
from polysocial.stores.keyvalue.protocol import TimelineKind

log = get_logger(__name__)

EXPORT_FORMAT = "polysocial-account-export/1"
PAGE = 500
TOMBSTONE_KEEPS = ("author_id",)  # what an erased post keeps: the anonymised id, for the feeds' take-out
AUTHORED = (POSTS, ARTICLES)


@dataclass(frozen=True, slots=True)
class ErasureStarted:
    user_id: int
    follows_ended: int
    again: bool  # the account had been erased before: this run sweeps again


@dataclass
class Leftovers:
    """What the stores still hold about an erased account; empty once the erasure is complete."""

    found: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.found


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Erasure:
    def __init__(self, stores: Stores, passwords: Passwords, sessions: Sessions) -> None:
        self.stores = stores
        self.passwords = passwords
        self.sessions = sessions

    # -- step 1: the transaction ------------------------------------------------------------------------------------

    async def delete(self, user_id: int) -> ErasureStarted:
        """Start the erasure (step 1 above); NotFound for an unknown id. Running it again on an erased account
        sweeps every store again (nothing else changes)."""
        unguessable = await self.passwords.hash(secrets.token_urlsafe(32))
        async with self.stores.relational.transaction() as tx:
            erased = await tx.accounts.erase(user_id, unguessable)
            if erased is None:
                raise NotFound(f"user {user_id} does not exist")
            await tx.outbox.add([*(unfollowed(a, b) for a, b in erased.follows), account_deleted(user_id)])
            tx.after_commit(lambda: self._end_sessions(user_id))
        return ErasureStarted(user_id, len(erased.follows), erased.again)

    async def _end_sessions(self, user_id: int) -> None:
        """At once, so that the account's tokens stop working now; if the sessions' store is down, the handler ends
        them when it runs (the erasure is committed either way: this is not its failure)."""
        try:
            await self.sessions.close_all(user_id)
        except StoreUnavailable as exc:
            log.warning("sessions end with the erasure's handler", user_id=user_id, error=describe(exc))

    # -- step 2: the AccountDeleted handler ---------------------------------------------------------------------------

    async def erase(self, event: Event) -> None:
        user_id = int(event.payload["user_id"])
        stores = self.stores
        if waiting := await stores.relational.pending_about_user(user_id, event.event_id):
            raise Deferred(f"{waiting} earlier events about user {user_id} are still on their way")
        if waiting := await stores.documents.pending_before(AUTHORED, event.created_at):
            raise Deferred(f"{waiting} documents still hold events older than the erasure of user {user_id}")
        await self._erase_documents(user_id)
        failpoints.failpoint(failpoints.ERASURE_MIDWAY)
        await stores.graph.erase_user(user_id)
        timelines = stores.timelines
        if timelines is not None:
            for kind in TimelineKind:
                await timelines.timeline_drop(kind, user_id)
            await timelines.celebrity_remove(user_id)
        await stores.keyvalue.cart_drop(user_id)
        await stores.keyvalue.board_forget(str(user_id))
        await invalidate_profile(stores.keyvalue, user_id)
        await self.sessions.close_all(user_id)
        async with stores.relational.transaction() as tx:
            await tx.accounts.sweep(user_id)

    async def _erase_documents(self, user_id: int) -> None:
        documents = self.stores.documents
        for collection in AUTHORED:
            async for doc in self._authored(collection, user_id):
                if doc.get("erased"):
                    continue
                events = []
                if not doc.get("deleted"):
                    events = [post_event(POST_DELETED, doc["id"], {"author_id": user_id, "collection": collection})]
                tombstone = {"deleted": True, "erased": True, "deleted_at": doc.get("deleted_at") or _now()}
                await documents.strip(collection, doc["id"], keep=TOMBSTONE_KEEPS, fields=tombstone, events=events)
        await self._erase_comments(user_id)
        while liked := await documents.ids_having_member(
            POSTS, field="likers", member=user_id, after_id=None, limit=PAGE
        ):
            withdrawn = [
                await documents.remove_member(POSTS, post_id, field="likers", member=user_id, counter="stats.likes")
                for post_id in liked
            ]
            if not any(withdrawn):
                break  # nothing moved: never loop on a post that will not let go

    async def _erase_comments(self, user_id: int) -> None:
        """Out of each post's latest comments (with its counter), then out of their collection."""
        documents = self.stores.documents
        per_post: Counter[str] = Counter()
        async for comment in self._authored(COMMENTS, user_id):
            per_post[str(comment["post_id"])] += 1
        for post_id, count in sorted(per_post.items()):
            post = await documents.get(POSTS, post_id)
            if post is not None and not post.get("erased"):
                mine = [c for c in post.get("latest_comments") or [] if c.get("author_id") == user_id]
                await documents.pull_items(
                    POSTS, post_id, field="latest_comments", items=mine, counter="stats.comments", delta=-count
                )
            await documents.delete_where(COMMENTS, {"post_id": post_id, "author_id": user_id})

    async def _authored(self, collection: str, user_id: int) -> Any:
        before: str | None = None
        while page := await self.stores.documents.find_page(
            collection, equals={"author_id": user_id}, before_id=before, limit=PAGE
        ):
            for doc in page:
                yield doc
            before = page[-1]["id"]

    async def underway(self, user_id: int) -> bool:
        """Whether events about the account (its erasure among them) are still on their way."""
        return await self.stores.relational.pending_about_user(user_id) > 0

    async def progress(self, user_id: int) -> Leftovers:
        """What is still left of an erased account, or that its erasure is still on its way (complete: neither)."""
        left = await self.leftovers(user_id)
        if await self.underway(user_id):
            left.found.insert(0, "outbox: the erasure's events are still on their way")
        return left

    # -- what is left ---------------------------------------------------------------------------------------------

    async def leftovers(self, user_id: int) -> Leftovers:
        """What the stores still hold about the erased account (the anonymised users row and the records the law
        keeps are expected, and not listed)."""
        async with self.stores.relational.reading() as tx:
            records = await tx.accounts.records(user_id)
        if records is None:
            raise NotFound(f"user {user_id} does not exist")
        left = Leftovers()
        if records["users"][0]["deleted_at"] is None:
            left.found.append("relational: the account is not erased")
        for table in ("user_profiles", "follow_record", "cart_items", "idempotency_keys", "session_backups"):
            if records[table]:
                left.found.append(f"relational: {len(records[table])} rows in {table}")
        left.found += await self._documents_left(user_id)
        left.found += await self._projections_left(user_id)
        return left

    async def _documents_left(self, user_id: int) -> list[str]:
        found = []
        for collection in AUTHORED:
            if content := [d["id"] async for d in self._authored(collection, user_id) if not d.get("erased")]:
                found.append(f"documents: {len(content)} {collection} with content")
        if comments := [c["id"] async for c in self._authored(COMMENTS, user_id)]:
            found.append(f"documents: {len(comments)} comments")
        if await self.stores.documents.ids_having_member(POSTS, field="likers", member=user_id, after_id=None, limit=1):
            found.append("documents: likes")
        return found

    async def _projections_left(self, user_id: int) -> list[str]:
        stores, found = self.stores, []
        if not await stores.graph.missing_users([user_id]):
            found.append("graph: the user's node")
        if await stores.keyvalue.cart_get(user_id) is not None:
            found.append("keyvalue: a live cart")
        if boards := await stores.keyvalue.board_scores(str(user_id)):
            found.append(f"keyvalue: scores on {len(boards)} leaderboards")
        if stores.timelines is not None:
            found += [
                f"keyvalue: the {kind.value} timeline"
                for kind in TimelineKind
                if await stores.timelines.timeline_is_live(kind, user_id)
            ]
            if await stores.timelines.is_celebrity(user_id):
                found.append("keyvalue: the celebrity mark")
        return found

    # -- export ---------------------------------------------------------------------------------------------------

    async def export(self, user_id: int) -> dict[str, Any]:
        """Everything the platform holds about the account, in every store, as one JSON-ready document. Secrets
        (password hash, session tokens) are never in it."""
        stores = self.stores
        async with stores.relational.reading() as tx:
            records = await tx.accounts.records(user_id)
        if records is None:
            raise NotFound(f"user {user_id} does not exist")
        documents: dict[str, Any] = {
            collection: [doc async for doc in self._authored(collection, user_id)]
            for collection in (*AUTHORED, COMMENTS)
        }
        documents["liked_posts"] = await self._all_liked(user_id)
        graph = {
            "node": not await stores.graph.missing_users([user_id]),
            "following": await self._all_ids(stores.graph.following, user_id),
            "followers": await self._all_ids(stores.graph.followers, user_id),
        }
        keyvalue: dict[str, Any] = {
            "live_cart": await stores.keyvalue.cart_get(user_id),
            "leaderboards": await stores.keyvalue.board_scores(str(user_id)),
        }
        if stores.timelines is not None:
            keyvalue["timelines_live"] = {
                kind.value: await stores.timelines.timeline_is_live(kind, user_id) for kind in TimelineKind
            }
            keyvalue["celebrity"] = await stores.timelines.is_celebrity(user_id)
        export = {
            "format": EXPORT_FORMAT,
            "user_id": user_id,
            "exported_at": _now(),
            "relational": records,
            "documents": documents,
            "graph": graph,
            "keyvalue": keyvalue,
            "sessions": {
                "note": "session tokens are secrets and are not exported; their copies are listed in "
                "relational.session_backups"
            },
            "timeseries": {"note": "views are kept per post and metrics per endpoint: nothing per user"},
        }
        return dict(to_jsonable_python(export))

    async def _all_liked(self, user_id: int) -> list[str]:
        liked: list[str] = []
        while page := await self.stores.documents.ids_having_member(
            POSTS, field="likers", member=user_id, after_id=liked[-1] if liked else None, limit=PAGE
        ):
            liked += page
        return liked

    @staticmethod
    async def _all_ids(query: Any, user_id: int) -> list[int]:
        found: list[int] = []
        while page := await query(user_id, after=found[-1] if found else 0, limit=PAGE):
            found += page
            if len(page) < PAGE:
                break
        return found
