"""Synthetic data for seeding and benchmarks: deterministic given a seed, shaped like a real network (a few accounts
have very many followers)."""

from __future__ import annotations

import itertools
import random


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
