"""The rules the money functions enforce in SQL (schema.py, migration 5), as the domain errors they mean."""

from __future__ import annotations

from psycopg import errors

from polysocial.domain.errors import DomainError, NotFound
from polysocial.domain.shop import OrderStateConflict, OutOfStock
from polysocial.domain.wallet import InsufficientFunds


def rule_broken(exc: errors.RaiseException, subject: str) -> DomainError:
    """The domain error for a rule a money function refused (RAISE EXCEPTION 'rule')."""
    rule = exc.diag.message_primary or ""
    detail = exc.diag.message_detail or ""
    if rule == "insufficient_funds":
        return InsufficientFunds(f"not enough money in the wallet for {subject}")
    if rule == "out_of_stock":
        return OutOfStock(f"product {detail} does not have enough stock for {subject}")
    if rule == "no_such_product":
        return NotFound(f"a product in {subject} does not exist")
    if rule == "no_such_user":
        return NotFound(f"a user in {subject} does not exist")
    if rule == "no_such_order":
        return NotFound(f"{subject} does not exist")
    if rule == "not_cancellable":
        return OrderStateConflict(f"{subject} is {detail}: only a paid order can be cancelled")
    return DomainError(rule)
