"""The sessions role's Cassandra URL: contact points, port, keyspace, credentials, replication factor."""

from __future__ import annotations

import pytest

from polysocial.domain.errors import ConfigError
from polysocial.stores.sessions.cassandra import parse_url


def test_three_contact_points_share_one_port_and_the_path_names_the_keyspace() -> None:
    hosts, port, keyspace, auth, factor = parse_url("cassandra://node1,node2,node3:9142/social?replication_factor=3")
    assert (hosts, port, keyspace, auth, factor) == (["node1", "node2", "node3"], 9142, "social", None, 3)


def test_defaults_are_port_9042_and_keyspace_polysocial() -> None:
    assert parse_url("cassandra://10.0.0.5")[:3] == (["10.0.0.5"], 9042, "polysocial")


def test_credentials_become_a_plain_text_auth_provider() -> None:
    auth = parse_url("cassandra://app:p%40ss@db:9042/ks")[3]
    assert auth is not None
    assert (auth.username, auth.password) == ("app", "p@ss")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("cassandra://db/bad-name", "keyspace 'bad-name'"),
        ("cassandra://db/ks;DROP", "keyspace 'ks;DROP'"),
        ("cassandra://db/ks?replication_factor=three", "replication_factor='three'"),
    ],
)
def test_a_keyspace_or_factor_that_could_not_be_used_is_refused(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_url(url)
