"""Reconcile: compare projections with their sources of truth, report the drift, and repair it.

Users: every account in PostgreSQL must have exactly one node in the graph. Later issues add their projections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from polysocial.domain.graph import GraphUser
from polysocial.stores.graph.protocol import GraphStore
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
