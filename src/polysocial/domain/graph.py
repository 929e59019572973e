"""The follow graph's value objects."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GraphUser:
    user_id: int
    name: str


def last_write_wins(users: Iterable[GraphUser]) -> list[GraphUser]:
    """One entry per user, the last given. A batch must not name a node twice: FalkorDB's MERGE inside one UNWIND
    keeps the first SET and drops the later ones, where Neo4j and SQL keep the last."""
    return list({u.user_id: u for u in users}.values())


@dataclass(frozen=True, slots=True)
class Suggestion:
    user_id: int
    strength: int  # distinct users in the middle: how many people I follow follow them
