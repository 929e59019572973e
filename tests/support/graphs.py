"""A synthetic follow graph with skewed popularity, and a reference implementation of every graph query in plain
Python, to hold each graph adapter's answers against."""

from __future__ import annotations

import random
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field


def skewed_follow_graph(users: int, follows_each: int, *, seed: int, skew: float = 1.1) -> list[tuple[int, int]]:
    """``users`` users (ids 1..users) each following ``follows_each`` others; the chance of being followed falls
    with popularity rank as a power law (a few accounts have very many followers). Deterministic in ``seed``."""
    rng = random.Random(seed)
    ids = list(range(1, users + 1))
    ranked = ids[:]
    rng.shuffle(ranked)
    weights = [1 / (rank + 1) ** skew for rank in range(users)]
    edges: list[tuple[int, int]] = []
    for follower in ids:
        chosen: set[int] = set()
        while len(chosen) < follows_each:
            for followee in rng.choices(ranked, weights=weights, k=follows_each * 2):
                if followee != follower and len(chosen) < follows_each:
                    chosen.add(followee)
        edges.extend((follower, f) for f in sorted(chosen))
    return edges


@dataclass
class ReferenceGraph:
    out: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    into: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def of(cls, edges: list[tuple[int, int]]) -> ReferenceGraph:
        graph = cls()
        for a, b in edges:
            graph.out[a].add(b)
            graph.into[b].add(a)
        return graph

    def followers(self, user: int, after: int, limit: int) -> list[int]:
        return sorted(u for u in self.into[user] if u > after)[:limit]

    def following(self, user: int, after: int, limit: int) -> list[int]:
        return sorted(u for u in self.out[user] if u > after)[:limit]

    def counts(self, user: int) -> tuple[int, int]:
        return len(self.into[user]), len(self.out[user])

    def mutuals(self, a: int, b: int, after: int, limit: int) -> list[int]:
        return sorted(u for u in self.out[a] & self.out[b] if u > after)[:limit]

    def suggestions(self, user: int, limit: int) -> list[tuple[int, int]]:
        strength: Counter[int] = Counter()
        for middle in self.out[user]:
            for candidate in self.out[middle]:
                if candidate != user and candidate not in self.out[user]:
                    strength[candidate] += 1
        return sorted(strength.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    def within_hops(self, user: int, hops: int, limit: int) -> list[tuple[int, int]]:
        distance = {user: 0}
        queue = deque([user])
        while queue:
            node = queue.popleft()
            if distance[node] == hops:
                continue
            for nxt in self.out[node]:
                if nxt not in distance:
                    distance[nxt] = distance[node] + 1
                    queue.append(nxt)
        reached = [(u, d) for u, d in distance.items() if u != user]
        return sorted(reached, key=lambda ud: (ud[1], ud[0]))[:limit]

    def path_length(self, source: int, target: int, max_hops: int) -> int | None:
        if source == target:
            return 0
        found = dict(self.within_hops(source, max_hops, 10**9))
        return found.get(target)
