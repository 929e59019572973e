"""Parsing of the engine-specific URL parts (pure logic)."""

from __future__ import annotations

from polysocial.stores.graph.falkordb import module_version, split_graph_url
from polysocial.stores.graph.neo4j import split_neo4j_url


def test_graph_url_names_the_graph_and_keeps_the_redis_url() -> None:
    assert split_graph_url("unix:///run/r.sock?graph=g1") == ("unix:///run/r.sock", "g1")
    assert split_graph_url("falkor://:pw@h:6379") == ("redis://:pw@h:6379", "social")


def test_falkordb_module_version_decodes() -> None:
    assert module_version(41603) == "4.16.3"
    assert module_version(40210) == "4.2.10"


def test_neo4j_url_splits_credentials_and_database() -> None:
    url, auth, database = split_neo4j_url("neo4j://neo:pw@cluster:7687?database=social")
    assert (url, auth, database) == ("neo4j://cluster:7687", ("neo", "pw"), "social")
    assert split_neo4j_url("bolt://localhost:7687") == ("bolt://localhost:7687", None, None)
