"""The sessions role: signed-in sessions, stored by the SHA-256 of their opaque token (services/sessions.py), with an
idle timeout that each use restarts and an absolute one that nothing extends.

Redis in `embedded` (the keyvalue role's server), PostgreSQL in `postgres-only`, Cassandra in `seed` (the article's
AP store: sign-in and reads at ONE, revocation at QUORUM; stores/sessions/cassandra.py says why).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from polysocial.domain.accounts import Session
from polysocial.stores.base import Store


@runtime_checkable
class SessionStore(Store, Protocol):
    @property
    def durable(self) -> bool:
        """Whether the sessions survive a restart of the engine: where they do not (Redis), services/sessions.py
        keeps a copy in PostgreSQL for the engine's outages."""

    async def create(self, token_hash: str, session: Session, *, idle_s: int, absolute_s: int) -> None:
        """Store a new session: it lives ``idle_s`` from now unless used, and never past ``created_at +
        absolute_s``."""

    async def read(self, token_hash: str, *, idle_s: int, absolute_s: int) -> Session | None:
        """The live session, touched (its idle timer restarted); None when unknown, revoked, idle too long, or past
        its absolute end."""

    async def revoke(self, token_hash: str, *, absolute_s: int) -> None:
        """End one session (logout). Idempotent; once it returns, no later ``read`` anywhere accepts the token."""

    async def revoke_user(self, user_id: int, *, absolute_s: int) -> None:
        """End every session of ``user_id`` that exists now (sign out everywhere); sessions created afterwards
        live. ``absolute_s`` bounds how long a record of it must be kept."""


@runtime_checkable
class RevocationChannel(Protocol):
    """A broadcast of revocations to every process that shares the sessions store, so that each may keep the sessions
    it resolved lately in memory (services/sessions.py) and drop them as soon as they end. A store without one
    (PostgreSQL, Cassandra) is read on every request."""

    async def announce_revoked(self, subject: str) -> None:
        """Tell every listening process that ``subject`` ended (``token:<hash>`` or ``user:<id>``)."""

    async def watch_revocations(
        self, stop: asyncio.Event, *, on_live: Callable[[bool], None], on_revoked: Callable[[str], None]
    ) -> None:
        """Until ``stop``: call ``on_revoked`` with every subject announced anywhere, ``on_live(True)`` once
        subscribed and ``on_live(False)`` as soon as the subscription is lost (announcements may then be missed);
        reconnect after a loss."""
