"""A reference implementation of every graph query in plain Python, to hold each graph adapter's answers against."""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field


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
        return sorted(strength.items(), key=lambda keyvalue: (-keyvalue[1], keyvalue[0]))[:limit]

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
