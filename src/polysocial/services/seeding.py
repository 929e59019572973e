"""Loading a synthetic network (synthetic.synthetic_network) into the stores in bulk: accounts with wallets and their
ledger entries, products, the follow graph, posts with their likes and latest comments, and every comment. Nothing
goes through the outbox: each store gets its rows directly, as fast as it takes them (COPY, UNWIND batches), so the
result is what the relay would have built. For seeding and benchmarks, never for live data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from polysocial.domain.graph import GraphUser
from polysocial.stores.documents.protocol import COMMENTS, POSTS, DocumentStore
from polysocial.stores.graph.protocol import GraphStore
from polysocial.stores.relational.protocol import RelationalStore
from polysocial.synthetic import Network

ACCOUNTS_CHUNK = 20_000
DOCUMENTS_CHUNK = 50_000
BIRTHDATE = date(1990, 1, 1)

Step = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True, slots=True)
class Loaded:
    users: int
    follows: int
    posts: int
    comments: int
    products: int
    user_ids: list[int] = field(default_factory=list, repr=False, compare=False)  # user number n is user_ids[n - 1]


def account_email(seed: int, number: int) -> str:
    """The seeded account of user number ``number`` (1-based)."""
    return f"seed{seed}-user{number}@example.com"


def _mapped(doc: dict[str, Any], ids: Sequence[int]) -> dict[str, Any]:
    out = {**doc, "author_id": ids[doc["author_id"] - 1]}
    if "likers" in out:
        out["likers"] = [ids[u - 1] for u in out["likers"]]
    if "latest_comments" in out:
        out["latest_comments"] = [{**c, "author_id": ids[c["author_id"] - 1]} for c in out["latest_comments"]]
    return out


async def load_network(
    network: Network,
    *,
    seed: int,
    password_hash: str,
    relational: RelationalStore,
    graph: GraphStore,
    documents: DocumentStore,
    step: Step,
) -> Loaded:
    ids: list[int] = []
    accounts = [(account_email(seed, i), f"User {i}") for i in range(1, network.users + 1)]
    for start in range(0, len(accounts), ACCOUNTS_CHUNK):
        ids += await relational.bulk_load_accounts(
            accounts[start : start + ACCOUNTS_CHUNK],
            password_hash=password_hash,
            birthdate=BIRTHDATE,
            deposits=network.deposits[start : start + ACCOUNTS_CHUNK],
        )
        step("accounts and wallets", len(ids), network.users)
    await relational.bulk_load_products(network.products)
    step("products", len(network.products), len(network.products))

    step("follow graph", 0, len(network.edges))
    edges = [(ids[a - 1], ids[b - 1]) for a, b in network.edges]
    await relational.bulk_load_follows(edges)
    await graph.bulk_load([GraphUser(uid, name) for uid, (_, name) in zip(ids, accounts, strict=True)], edges)
    step("follow graph", len(network.edges), len(network.edges))

    for kind, collection, docs in (("posts", POSTS, network.posts), ("comments", COMMENTS, network.comments)):
        for start in range(0, len(docs), DOCUMENTS_CHUNK):
            chunk = docs[start : start + DOCUMENTS_CHUNK]
            await documents.bulk_insert(collection, [_mapped(d, ids) for d in chunk])
            step(kind, start + len(chunk), len(docs))
    return Loaded(
        network.users, len(network.edges), len(network.posts), len(network.comments), len(network.products), ids
    )
