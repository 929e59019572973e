"""Reconcile: compare projections with their sources of truth, report the drift, and repair it.

- users: every account in PostgreSQL has exactly one node in the graph;
- follow edges: the graph's edges match the follow record in PostgreSQL (written with each follow's event);
- post counters: likes and comments counted in each post match the likers and the comment records;
- home timelines (a sample): the live sorted set matches what a rebuild from the graph and the posts would hold;
- carts: a live cart in Redis matches its durable copy in PostgreSQL plus the changes on their way.

Run it when the platform is quiet: a change made during the comparison can look like drift (a like between reading a
post and repairing its counter is overwritten; the next run sets it right).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from polysocial.domain.graph import GraphUser
from polysocial.services.carts import CART_TTL_S
from polysocial.services.feed import Feeds
from polysocial.stores.documents.protocol import COMMENTS, POSTS, DocumentStore
from polysocial.stores.graph.protocol import GraphStore
from polysocial.stores.keyvalue.protocol import KeyValueStore, TimelineKind, TimelineStore
from polysocial.stores.keyvalue.timelines import MAX_TIMELINE_ITEMS
from polysocial.stores.relational.protocol import RelationalStore


@dataclass
class UserGraphReport:
    users_checked: int = 0
    missing: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    repaired: int = 0


async def reconcile_user_nodes(
    relational: RelationalStore, graph: GraphStore, *, repair: bool, batch_size: int = 5000
) -> UserGraphReport:
    report = UserGraphReport()
    async for ids in relational.iter_user_ids(batch_size):
        report.users_checked += len(ids)
        missing = await graph.missing_users(ids)
        report.missing.extend(missing)
        if repair and missing:
            names = await relational.user_names(missing)
            await graph.upsert_users([GraphUser(uid, names.get(uid, "")) for uid in missing])
            report.repaired += len(missing)
    report.duplicates = await graph.duplicate_user_ids()
    return report


async def rebuild_graph(relational: RelationalStore, graph: GraphStore, *, batch_size: int = 5000) -> tuple[int, int]:
    """Empty the graph and load it again from the accounts and the follow record, with the engine's bulk load: after
    a restore that did not bring the graph back (it is a projection of the record). Returns (users, edges)."""
    await graph.wipe()
    users = edges = 0
    async for ids in relational.iter_user_ids(batch_size):  # every node first: an edge needs both its ends
        names = await relational.user_names(ids)
        await graph.bulk_load([GraphUser(uid, names.get(uid, "")) for uid in ids], [])
        users += len(ids)
    async for ids in relational.iter_user_ids(batch_size):
        followees = await relational.followees_of(ids)
        batch = [(user, followee) for user in ids for followee in sorted(followees.get(user, ()))]
        await graph.bulk_load([], batch)
        edges += len(batch)
    return users, edges


@dataclass
class Drift:
    """One projection compared with its source of truth: how many were checked, which differ, how many were
    repaired, and (``note``) what was not checked and why."""

    projection: str
    checked: int = 0
    found: list[str] = field(default_factory=list)
    repaired: int = 0
    note: str = ""


async def reconcile_counters(
    documents: DocumentStore, *, repair: bool, batch_size: int = 1000, only: Sequence[str] | None = None
) -> Drift:
    """Each post's like and comment counts (or those of the posts ``only``) against their records: the likers kept
    in the post, the comments in their collection. Skipped while comment events are still on their way to that
    collection (they would look missing)."""
    drift = Drift("post counters -> likes and comments")
    if pending := await documents.pending_count([POSTS]):
        drift.note = f"skipped: {pending} post events are still being delivered; run again when the relay is idle"
        return drift
    # where a filter on many values reads every comment (FerretDB), every post's count in one pass, not one per page
    whole = only is None and documents.in_filter_scans
    every = await documents.count_all_by(COMMENTS, field="post_id") if whole else None
    async for page in _posts(documents, only, batch_size):
        ids = [d["id"] for d in page]
        if every is None:
            comments = await documents.count_by(COMMENTS, field="post_id", values=ids)
        else:
            comments = {i: every[i] for i in ids if i in every}
        for doc in page:
            drift.checked += 1
            stats = dict(doc.get("stats") or {})
            right = {"likes": len(doc.get("likers") or []), "comments": comments.get(doc["id"], 0)}
            if all(stats.get(k) == v for k, v in right.items()):
                continue
            drift.found.append(doc["id"])
            if repair:
                await documents.update(POSTS, doc["id"], {"stats": {**stats, **right}})
                drift.repaired += 1
    return drift


async def _posts(
    documents: DocumentStore, only: Sequence[str] | None, batch_size: int
) -> AsyncIterator[list[dict[str, Any]]]:
    if only is None:
        async for page in documents.iter_pages(POSTS, batch_size=batch_size):
            yield page
        return
    for start in range(0, len(only), batch_size):
        found = await documents.get_many(POSTS, only[start : start + batch_size])
        if found:
            yield list(found.values())


async def reconcile_timelines(
    relational: RelationalStore,
    feeds: Feeds,
    timelines: TimelineStore | None,
    *,
    repair: bool,
    sample: int,
    seed: int | None = None,
    owners: Sequence[int] | None = None,
) -> Drift:
    """A random sample of live home timelines (or those of ``owners``) against what a rebuild would hold (the graph
    and the posts). A timeline that differs is dropped when repairing: its next read rebuilds it."""
    drift = Drift("home timelines -> a rebuild (sample)")
    if timelines is None:
        drift.note = "no timelines in this profile (feeds are read from the sources of truth)"
        return drift
    if owners is None:
        users = [uid async for ids in relational.iter_user_ids() for uid in ids]
        owners = random.Random(seed).sample(users, min(sample, len(users)))  # noqa: S311 - a sample, not a secret
    chosen = owners
    for owner in chosen:
        live = await timelines.timeline_read(TimelineKind.HOME, owner, before=None, limit=MAX_TIMELINE_ITEMS)
        if live is None:
            continue  # not live: it will be rebuilt when read
        drift.checked += 1
        ids, celebrities = await feeds.rebuilt(TimelineKind.HOME, owner)
        if (live[0], live[1]) == (ids, celebrities):
            continue
        drift.found.append(str(owner))
        if repair:
            await timelines.timeline_drop(TimelineKind.HOME, owner)
            drift.repaired += 1
    return drift


async def reconcile_carts(
    relational: RelationalStore, keyvalue: KeyValueStore, *, repair: bool, batch_size: int = 1000
) -> Drift:
    """Live carts (Redis) against the durable copy plus the changes on their way (PostgreSQL, their source of
    truth). A cart that is not live is rebuilt from the durable copy when next read, so only live ones can drift."""
    drift = Drift("live carts -> durable copies")
    after = 0
    while True:
        async with relational.transaction() as tx:
            owners = await tx.carts.cart_owners(after=after, limit=batch_size)
            snapshots = {owner: await tx.carts.cart_snapshot(owner) for owner in owners}
        if not owners:
            return drift
        after = owners[-1]
        for owner, lines in snapshots.items():
            live = await keyvalue.cart_get(owner)
            if live is None:
                continue
            drift.checked += 1
            if live == lines:
                continue
            drift.found.append(str(owner))
            if repair:
                await keyvalue.cart_put(owner, lines, ttl_s=CART_TTL_S)
                drift.repaired += 1


GRAPH_PAGE = 10_000


async def _graph_followees(graph: GraphStore, user: int) -> set[int]:
    found: set[int] = set()
    after = 0
    while page := await graph.following(user, after=after, limit=GRAPH_PAGE):
        found.update(page)
        if len(page) < GRAPH_PAGE:
            break
        after = page[-1]
    return found


async def reconcile_follows(
    relational: RelationalStore, graph: GraphStore, *, repair: bool, batch_size: int = 1000
) -> Drift:
    """Each user's followees in the graph against the follow record. A platform that had follows before the record
    existed has an empty record: the graph's edges are then adopted into it once, instead of being taken for drift."""
    drift = Drift("follow edges -> follow record")
    adopting = await relational.follow_record_size() == 0
    adopted: list[tuple[int, int]] = []
    async for ids in relational.iter_user_ids(batch_size):
        recorded = await relational.followees_of(ids)
        for user in ids:
            drift.checked += 1
            in_graph = await _graph_followees(graph, user)
            if adopting:
                adopted += [(user, followee) for followee in sorted(in_graph)]
                continue
            expected = recorded.get(user, set())
            missing, extra = sorted(expected - in_graph), sorted(in_graph - expected)
            if not missing and not extra:
                continue
            drift.found.append(str(user))
            if repair:
                await graph.follow_many([(user, followee) for followee in missing])
                await graph.unfollow_many([(user, followee) for followee in extra])
                drift.repaired += 1
    if adopting and adopted:
        if repair:
            await relational.bulk_load_follows(adopted)
        verb = "recorded" if repair else "would record"
        drift.note = f"no follow record yet: {verb} the graph's {len(adopted)} edges as the record"
    return drift
