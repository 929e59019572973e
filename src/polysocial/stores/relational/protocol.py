"""The relational role: accounts, credentials, wallets, products, orders, payments, seats, durable carts, and the
transactional outbox. ACID transactions, constraints and row locks are the reason it exists (docs/ARCHITECTURE.md).

Writes happen inside a transaction that a service method opens and commits (services/, one method per use case);
the verbs of an open transaction are grouped by capability: ``tx.accounts``, ``tx.wallet``, ``tx.shop``,
``tx.seats``, ``tx.carts``, ``tx.idempotency``, ``tx.outbox``.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from polysocial.domain.accounts import Credentials, ErasedAccount, Me, NewAccount, Profile, Session, UserCard, UserRole
from polysocial.domain.events import Event
from polysocial.domain.idempotency import IdempotencyRecord
from polysocial.domain.seats import Seat, TicketedEvent
from polysocial.domain.shop import CustomerReportRow, Order, Product
from polysocial.domain.wallet import LedgerEntry
from polysocial.stores.base import Store

T = TypeVar("T")


class Isolation(enum.StrEnum):
    READ_COMMITTED = "read committed"
    REPEATABLE_READ = "repeatable read"
    SERIALIZABLE = "serializable"


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    position: int
    event: Event
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    oldest_age_s: float  # the relay's lag: how long the oldest undelivered event has waited
    dead_letters: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    event: Event
    source: str
    attempts: int
    error: str


class AccountsTx(Protocol):
    async def insert_account(self, account: NewAccount) -> int:
        """Insert the user and the profile; raises EmailTaken, TooYoung."""

    async def credentials_by_email(self, email: str) -> Credentials | None: ...

    async def update_password_hash(self, user_id: int, password_hash: str) -> None: ...

    async def set_role(self, user_id: int, role: UserRole) -> bool: ...

    async def user_id_by_email(self, email: str) -> int | None: ...

    async def profile(self, user_id: int) -> Profile | None:
        """The seed's get_user: users + user_profiles + the order count, in one query."""

    async def me(self, user_id: int) -> Me | None: ...

    async def update_profile(self, user_id: int, fields: dict[str, Any]) -> bool: ...

    async def erase(self, user_id: int, password_hash: str) -> ErasedAccount | None:
        """Anonymise the account (``password_hash`` of a password nobody knows) and delete what is personal, except
        the records the law keeps (ledger, orders, payments, seats); None when there is no such user."""

    async def sweep(self, user_id: int) -> list[tuple[int, int]]:
        """Delete the account's follows, durable cart and session copies; the follows deleted."""

    async def records(self, user_id: int) -> dict[str, list[dict[str, Any]]] | None:
        """Every row about the account, by table, without secrets (an export); None when there is no such user."""


class WalletTx(Protocol):
    """Money moves as two ledger entries that sum to zero; a refused move (InsufficientFunds) changes nothing."""

    async def deposit(self, user_id: int, amount: Decimal) -> Decimal: ...

    async def transfer(self, from_user: int, to_user: int, amount: Decimal) -> Decimal: ...

    async def balance(self, user_id: int) -> Decimal | None: ...

    async def ledger(self, user_id: int, *, before: int | None, limit: int) -> list[LedgerEntry]: ...


class ShopTx(Protocol):
    """Products, stock and orders; placing an order checks and takes stock and payment together (OutOfStock,
    InsufficientFunds, NotFound refuse it whole)."""

    async def create_product(self, name: str, price: Decimal, stock: int) -> Product: ...

    async def product(self, product_id: int) -> Product | None: ...

    async def products(self, *, after: int, limit: int) -> list[Product]: ...

    async def restock(self, product_id: int, quantity: int) -> Product | None: ...

    async def place_order(self, user_id: int, lines: Sequence[tuple[int, int]]) -> int: ...

    async def cancel_order(self, user_id: int, order_id: int) -> None: ...

    async def ship_order(self, order_id: int) -> None: ...

    async def order(self, order_id: int) -> Order | None: ...

    async def orders(self, user_id: int, *, before: int | None, limit: int) -> list[Order]: ...

    async def customer_report(self, *, days: int, min_orders: int) -> list[CustomerReportRow]: ...


class SeatsTx(Protocol):
    async def create_ticketed_event(self, name: str, starts_at: datetime, seats: int) -> int: ...

    async def ticketed_event(self, event_id: int) -> TicketedEvent | None: ...

    async def ticketed_events(self, *, after: int, limit: int) -> list[TicketedEvent]:
        """Events in id order after ``after``."""

    async def seats(self, event_id: int, viewer: int) -> list[Seat]: ...

    async def book_seat(self, event_id: int, seat_no: int, user_id: int) -> None:
        """Raises SeatTaken when someone else has it, NotFound when there is no such seat."""


class CartsTx(Protocol):
    async def apply_cart_delta(self, event_id: uuid.UUID, user_id: int, product_id: int, delta: int) -> int | None: ...

    async def cart_snapshot(self, user_id: int, *, lock: bool = False) -> dict[int, int]:
        """The durable cart plus its changes not yet applied; ``lock`` serialises checkouts of the cart."""

    async def cart_owners(self, *, after: int, limit: int) -> list[int]:
        """Users with a cart (a durable line, or a change on its way), in id order after ``after``: reconcile's."""


class FollowsTx(Protocol):
    async def record(self, follower: int, followee: int) -> bool:
        """Record the follow (twice is once); False, recording nothing, when either account does not exist or is
        being erased."""

    async def erase(self, follower: int, followee: int) -> None: ...


class IdempotencyTx(Protocol):
    async def begin(
        self, user_id: int, key: str, request_hash: str, *, owner: uuid.UUID, lease_s: float
    ) -> IdempotencyRecord:
        """Claim ``key`` for ``owner`` for ``lease_s`` (a new key, or one whose owner's lease ran out with no
        answer), or report what became of the request that holds it."""

    async def finish(self, user_id: int, key: str, status: int, body: Any, *, owner: uuid.UUID) -> bool:
        """Record the answer if ``owner`` still holds the key; False if a retry took it over."""

    async def release(self, user_id: int, key: str, *, owner: uuid.UUID) -> None: ...


class OutboxTx(Protocol):
    async def add(self, events: Sequence[Event]) -> None:
        """Record events in the transaction's outbox: they exist if and only if the transaction commits."""


class RelationalTx(Protocol):
    """One open transaction, its verbs grouped by capability. Everything done through it commits or rolls back
    together."""

    @property
    def accounts(self) -> AccountsTx: ...

    @property
    def wallet(self) -> WalletTx: ...

    @property
    def shop(self) -> ShopTx: ...

    @property
    def seats(self) -> SeatsTx: ...

    @property
    def carts(self) -> CartsTx: ...

    @property
    def follows(self) -> FollowsTx: ...

    @property
    def idempotency(self) -> IdempotencyTx: ...

    @property
    def outbox(self) -> OutboxTx: ...

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` once the transaction has committed (never if it rolls back)."""


class OutboxBatch(Protocol):
    """Events claimed by one relay, locked against the others until the batch ends."""

    events: list[OutboxEvent]

    async def done(self, items: Sequence[OutboxEvent]) -> None: ...

    async def failed(self, item: OutboxEvent, error: str, *, retry_in_s: float | None) -> None:
        """Schedule a retry in ``retry_in_s`` seconds, or (None) move the event to the dead-letter table."""


class RelationalStore(Store, Protocol):
    def transaction(self, isolation: Isolation = Isolation.READ_COMMITTED) -> AbstractAsyncContextManager[RelationalTx]:
        """Open a transaction: committed when the block ends, rolled back when it raises."""

    def reading(self, *, stale_ok: bool = False) -> AbstractAsyncContextManager[RelationalTx]:
        """A connection for reads outside a transaction: every statement is its own, with its own snapshot. Two
        round trips fewer than ``transaction()`` (no BEGIN, no COMMIT): for one read, or reads that need not agree
        with each other. Never for writes. ``stale_ok``: a read replica may answer (stores/replicas.py), except
        for a user who wrote lately."""

    async def run(self, work: Callable[[RelationalTx], Awaitable[T]], *, isolation: Isolation, attempts: int) -> T:
        """``work`` in a transaction at ``isolation``, committed; run again from the start (in a new transaction,
        after a jittered backoff) when it fails with a serialization failure or a deadlock, ``attempts`` times in
        all. Domain errors are not retried."""

    def claim_outbox(self, limit: int) -> AbstractAsyncContextManager[OutboxBatch]:
        """Lock up to ``limit`` due events, only the oldest pending event of each aggregate, skipping rows another
        relay holds. Marks made on the batch commit when the block ends."""

    async def dead_letter(self, event: Event, *, source: str, attempts: int, error: str) -> None: ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    async def outbox_stats(self) -> OutboxStats: ...

    async def pending_about_user(self, user_id: int, before: uuid.UUID | None = None) -> int:
        """How many undelivered events about the user (theirs, their cart's, their follows') are older than the event
        ``before`` (or at all): an erasure waits for them, so that none brings back what it removes."""

    async def processed(self, handler: str, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]: ...

    async def mark_processed(self, handler: str, event_ids: Sequence[uuid.UUID]) -> None: ...

    async def prune_processed(self, older_than_s: float) -> int:
        """Forget processed markers older than any redelivery could be; returns how many went."""

    def wait_for_events(self) -> AbstractAsyncContextManager[Callable[[float], Awaitable[None]]]:
        """A waiter that returns when new events may be pending (a notification), or after the timeout."""

    def iter_user_ids(self, batch_size: int = 5000) -> AsyncIterator[list[int]]: ...

    async def user_names(self, user_ids: Sequence[int]) -> dict[int, str]: ...

    # -- the durable copy of sessions (used only while the keyvalue role is down) -----------------------------------

    async def session_backup_put(self, token_hash: str, session: Session, *, absolute_s: int) -> None: ...

    async def session_backup_get(self, token_hash: str) -> Session | None:
        """The copy of a session, unless past its absolute end."""

    async def session_backup_delete(self, token_hash: str) -> None: ...

    async def session_backup_delete_user(self, user_id: int) -> None:
        """Delete the copies of every session of ``user_id``."""

    async def session_backup_clear(self) -> None:
        """Delete every copy (after a restore: no session comes back from the past)."""

    async def bulk_load_accounts(
        self, accounts: Sequence[tuple[str, str]], *, password_hash: str, birthdate: date, deposits: Sequence[Decimal]
    ) -> list[int]:
        """Seeding: (email, name) accounts with one password hash, each with its deposit (and its two ledger
        entries), in a few statements; their ids in the same order. Raises EmailTaken if any email exists."""

    async def bulk_load_follows(self, edges: Sequence[tuple[int, int]]) -> None:
        """Record many follows at once (seeding, with the graph's bulk load)."""

    async def followees_of(self, followers: Sequence[int]) -> dict[int, set[int]]:
        """Whom each of ``followers`` follows, as recorded (reconcile's); those who follow nobody are absent."""

    async def follow_record_size(self) -> int: ...

    async def bulk_load_products(self, products: Sequence[tuple[str, Decimal, int]]) -> list[int]:
        """Seeding: (name, price, stock) products; their ids in order."""

    async def balance(self, user_id: int) -> Decimal | None:
        """The user's wallet balance as committed now (None: no such user), read with the balances that concurrent
        callers ask for in one query. The same answer as ``reading()``'s ``wallet.balance``, in fewer round trips."""

    async def user_cards(self, user_ids: Sequence[int]) -> dict[int, UserCard]:
        """Name and avatar of each existing user, for showing authors next to their posts."""
