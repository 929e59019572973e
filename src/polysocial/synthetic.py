"""Synthetic data for seeding and benchmarks: deterministic given a seed, shaped like a real network (a few accounts
have very many followers)."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from polysocial.domain.ids import make_id


def skewed_follow_graph(users: int, follows_each: int, *, seed: int, skew: float = 1.1) -> list[tuple[int, int]]:
    """``users`` users (ids 1..users) each following ``follows_each`` others; the chance of being followed falls
    with popularity rank as a power law. Deterministic in ``seed``."""
    if follows_each >= users:
        raise ValueError("each user can follow at most users - 1 others")
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
    ranked = list(range(1, users + 1))
    rng.shuffle(ranked)
    cumulative = list(itertools.accumulate(1 / (rank + 1) ** skew for rank in range(users)))
    edges: list[tuple[int, int]] = []
    for follower in range(1, users + 1):
        chosen: set[int] = set()
        while len(chosen) < follows_each:
            for followee in rng.choices(ranked, cum_weights=cumulative, k=follows_each * 2):
                if followee != follower and len(chosen) < follows_each:
                    chosen.add(followee)
        edges.extend((follower, f) for f in sorted(chosen))
    return edges


# -- a whole network (polysocial seed-data) -----------------------------------------------------------------------

BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: seeded posts are spread over the 30 days after it
SPREAD_MS = 30 * 86_400_000
AUTHOR_SKEW = 0.6  # popular accounts post more, less steeply than they are followed


def seeded_id(rng: random.Random, ms: int) -> str:
    """A ULID whose random part comes from ``rng``: the same seed gives the same ids."""
    return make_id(ms, rng.getrandbits(80))


@dataclass
class Network:
    """Users are numbered 1..users here; the loader maps them onto the ids the stores give."""

    users: int
    edges: list[tuple[int, int]]
    posts: list[dict[str, Any]]  # with "id" and "author_id" (a user number)
    comments: list[dict[str, Any]]  # with "id", "post_id" and "author_id"
    products: list[tuple[str, Decimal, int]]
    deposits: list[Decimal]  # one per user


def synthetic_network(users: int, avg_follows: int, posts: int, *, seed: int, products: int = 1000) -> Network:
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
    edges = skewed_follow_graph(users, min(avg_follows, users - 1), seed=seed)
    followers = Counter(b for _, b in edges)
    ranked = [u for u, _ in followers.most_common()] + [u for u in range(1, users + 1) if u not in followers]
    weights = list(itertools.accumulate(1 / (r + 1) ** AUTHOR_SKEW for r in range(users)))
    authors = rng.choices(ranked, cum_weights=weights, k=posts)
    stamps = sorted(BASE_MS + rng.randrange(SPREAD_MS) for _ in range(posts))
    made: list[dict[str, Any]] = []
    comments: list[dict[str, Any]] = []
    for author, ms in zip(authors, stamps, strict=True):
        post_id = seeded_id(rng, ms)
        likers = sorted(set(rng.choices(range(1, users + 1), k=rng.choice((0, 0, 1, 2, 3, 5)))) - {author})
        mine: list[dict[str, Any]] = []
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2, 4))):
            commenter = rng.randrange(1, users + 1)
            mine.append(
                {
                    "id": seeded_id(rng, ms + rng.randrange(1, 86_400_000)),
                    "post_id": post_id,
                    "author_id": commenter,
                    "text": rng.choice(COMMENTS),
                    "created_at": _iso(ms),
                }
            )
        mine.sort(key=lambda c: c["id"])
        comments.extend(mine)
        made.append(
            {
                "id": post_id,
                "author_id": author,
                "text": rng.choice(TEXTS),
                "media": [],
                "stats": {"likes": len(likers), "comments": len(mine), "shares": 0},
                "likers": likers,
                "latest_comments": [
                    {k: c[k] for k in ("id", "post_id", "author_id", "text", "created_at")} for c in mine[-20:]
                ],
                "created_at": _iso(ms),
                "deleted": False,
            }
        )
    catalogue = [
        (f"Product {i + 1}", Decimal(rng.randrange(100, 20_000)) / 100, rng.randrange(0, 500)) for i in range(products)
    ]
    deposits = [Decimal(rng.randrange(100, 1_000)) for _ in range(users)]
    return Network(users, edges, made, comments, catalogue, deposits)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


TEXTS = (
    "Just deployed to production on Friday!",
    "Database design patterns, a thread.",
    "Which store would you pick for this?",
    "Benchmarks or it did not happen.",
    "Coffee first, then migrations.",
    "Cursor pagination, never skip.",
)
COMMENTS = ("Great post!", "Agreed.", "Measured it: you are right.", "Not on my machine.", "+1")
