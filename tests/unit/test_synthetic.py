"""The synthetic network is deterministic in its seed and shaped like a social network."""

from __future__ import annotations

from collections import Counter

from polysocial.domain.ids import is_id
from polysocial.synthetic import synthetic_network


def test_the_same_seed_gives_the_same_network_and_another_seed_another() -> None:
    first = synthetic_network(300, 10, 1_000, seed=7, products=20)
    again = synthetic_network(300, 10, 1_000, seed=7, products=20)
    other = synthetic_network(300, 10, 1_000, seed=8, products=20)
    assert first == again
    assert first.edges != other.edges
    assert [p["id"] for p in first.posts] != [p["id"] for p in other.posts]


def test_popularity_is_skewed_and_the_data_hangs_together() -> None:
    net = synthetic_network(1_000, 10, 3_000, seed=1, products=5)
    followers = Counter(b for _, b in net.edges)
    top = followers.most_common(10)
    assert top[0][1] > 20 * (len(net.edges) / 1_000)  # a few accounts have very many followers
    assert len(net.edges) == 10_000
    assert len(set(net.edges)) == len(net.edges)
    assert all(a != b for a, b in net.edges)
    ids = [p["id"] for p in net.posts]
    assert all(is_id(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert sum(p["stats"]["comments"] for p in net.posts) == len(net.comments)
    assert all(p["stats"]["likes"] == len(p["likers"]) and p["author_id"] not in p["likers"] for p in net.posts)
    assert all(len(p["latest_comments"]) <= 20 for p in net.posts)
    assert len(net.deposits) == 1_000
    assert len(net.products) == 5
