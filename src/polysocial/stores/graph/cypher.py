"""The Cypher both graph engines run (FalkorDB and Neo4j), kept in one place so they cannot drift apart. Where an
engine needs its own form, the name says so."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class _Cypher:
    follow: str = "UNWIND $edges AS e MERGE (a:User {id: e[0]}) MERGE (b:User {id: e[1]}) MERGE (a)-[:FOLLOWS]->(b)"
    bulk_users: str = "UNWIND $batch AS u CREATE (:User {id: u[0], name: u[1]})"
    bulk_edges: str = (
        "UNWIND $batch AS e MATCH (a:User {id: e[0]}) MATCH (b:User {id: e[1]}) CREATE (a)-[:FOLLOWS]->(b)"
    )
    unfollow: str = "UNWIND $edges AS e MATCH (:User {id: e[0]})-[r:FOLLOWS]->(:User {id: e[1]}) DELETE r"
    erase_user: str = "MATCH (u:User {id: $id}) DETACH DELETE u"
    follows: str = "MATCH (:User {id: $a})-[r:FOLLOWS]->(:User {id: $b}) RETURN count(r)"
    followers: str = (
        "MATCH (f:User)-[:FOLLOWS]->(:User {id: $id}) WHERE f.id > $after RETURN f.id AS id ORDER BY id LIMIT $limit"
    )
    follower_ids: str = "MATCH (f:User)-[:FOLLOWS]->(:User {id: $id}) RETURN collect(f.id) AS ids"
    falkordb_follower_ids: str = "MATCH (f:User)-[:FOLLOWS]->(:User {id: $id}) RETURN toJSON(collect(f.id))"
    following: str = (
        "MATCH (:User {id: $id})-[:FOLLOWS]->(f:User) WHERE f.id > $after RETURN f.id AS id ORDER BY id LIMIT $limit"
    )
    counts: str = (
        "MATCH (u:User {id: $id}) "
        "OPTIONAL MATCH (f:User)-[:FOLLOWS]->(u) WITH u, count(f) AS followers "
        "OPTIONAL MATCH (u)-[:FOLLOWS]->(g:User) RETURN followers, count(g) AS following"
    )
    mutuals: str = (
        "MATCH (:User {id: $a})-[:FOLLOWS]->(m:User)<-[:FOLLOWS]-(:User {id: $b}) "
        "WHERE m.id > $after RETURN m.id AS id ORDER BY id LIMIT $limit"
    )
    # The middle node is named and counted: FalkorDB loses path multiplicity with count(*) over an anonymous middle.
    # Whom I follow is collected once, so that excluding them is a list lookup, not a pattern match per row.
    suggestions: str = (
        "MATCH (u:User {id: $id})-[:FOLLOWS]->(m:User) "
        "WITH u, collect(m) AS followed "
        "UNWIND followed AS m "
        "MATCH (m)-[:FOLLOWS]->(s:User) "
        "WHERE s <> u AND NOT s IN followed "
        "RETURN s.id AS id, count(DISTINCT m) AS strength ORDER BY strength DESC, id ASC LIMIT $limit"
    )
    falkordb_shortest_path: str = (
        "MATCH (a:User {id: $a}), (b:User {id: $b}) RETURN length(shortestPath((a)-[:FOLLOWS*]->(b)))"
    )
    neo4j_shortest_path: str = (
        "MATCH (a:User {id: $a}), (b:User {id: $b}) MATCH p = shortestPath((a)-[:FOLLOWS*..%d]->(b)) RETURN length(p)"
    )

    def within_hops(self, hops: int) -> str:
        if not 1 <= hops <= 4:
            raise ValueError("hops must be 1 to 4")
        return (
            f"MATCH p = (u:User {{id: $id}})-[:FOLLOWS*1..{hops}]->(v:User) WHERE v.id <> $id "
            "RETURN v.id AS id, min(length(p)) AS distance ORDER BY distance, id LIMIT $limit"
        )


CYPHER = _Cypher()
