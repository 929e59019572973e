"""The relational role: accounts, credentials, wallets, products, orders, payments, seats, durable carts, and the
transactional outbox. ACID transactions, constraints and row locks are the reason it exists (DESIGN.md section 1)."""

from __future__ import annotations

from typing import Protocol

from polysocial.stores.base import Store


class RelationalStore(Store, Protocol):
    """Later issues add the account, money and outbox operations here; every adapter must then pass them."""
