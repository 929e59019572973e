"""Sessions: opaque bearer tokens of 256 random bits. Only the token's SHA-256 is stored, so a leaked session store
yields no usable token. Idle and absolute timeouts are enforced by the store on every read. The sessions role is
Redis (`embedded`), Cassandra (`seed`) or PostgreSQL (`postgres-only`): stores/sessions/.

Where sessions live in Redis, a copy goes to PostgreSQL at login (``backup``) and is read only while Redis is down,
so that signed-in users keep working through an outage; during it, only the absolute timeout is enforced (the
idle timer lives in Redis). Logout deletes the copy first, then the session: if Redis is down, logout fails (503)
rather than leave a session that Redis would bring back.

Where the store broadcasts revocations (Redis pub/sub: ``RevocationChannel``), each process keeps the sessions it
resolved in the last ``SESSION_CACHE_S`` in memory, and a request with a token seen lately costs no round trip: that
round trip was a quarter of a ``GET /wallet``'s server time. A sign-out is announced once the store has ended the
session, and every process drops the token when the announcement arrives (a Redis pub/sub message: well under a
millisecond on one machine). A process caches nothing while its subscription is down, drops everything it held when
the subscription is lost or made again (announcements may have been missed), and does not keep a session it read
while an announcement arrived (``_generation``). The idle timer is restarted by the store reads between cached
ones, at least every ``SESSION_CACHE_S``; no cached session outlives its absolute end."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass

from polysocial.domain.accounts import Session, UserRole
from polysocial.domain.errors import StoreUnavailable
from polysocial.logging import get_logger
from polysocial.services.cache import CacheTally
from polysocial.stores.relational.protocol import RelationalStore
from polysocial.stores.sessions.protocol import RevocationChannel, SessionStore

log = get_logger(__name__)

TOKEN_BYTES = 32
SESSION_CACHE_S = 5.0  # how long a resolved session is kept in this process's memory
SESSION_CACHE_ENTRIES = 50_000  # past it, the oldest entries go first
TOKEN_SUBJECT = "token:"  # noqa: S105 - a message prefix, not a secret
USER_SUBJECT = "user:"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_s: int = 30 * 60
    absolute_s: int = 8 * 3600


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Opaque bearer sessions in the sessions role, with a PostgreSQL copy where that role may lose them."""

    def __init__(self, store: SessionStore, policy: SessionPolicy, *, backup: RelationalStore | None) -> None:
        self.store = store
        self.policy = policy
        self.backup = backup
        self.channel = store if isinstance(store, RevocationChannel) else None
        # token hash -> (session, monotonic deadline); used only while ``_live`` (subscribed to the revocations)
        self._cache: dict[str, tuple[Session, float]] = {}
        self._live = False
        self._generation = 0  # moves at every revocation heard and every change of ``_live``
        self.tally = CacheTally()  # answered from memory (hits) or by the store (misses), for the metrics

    @property
    def caching(self) -> bool:
        """Whether sessions resolved here are kept in memory now (subscribed to the store's revocations)."""
        return self._live

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Listen to the store's revocations until ``stop``, keeping sessions in memory while subscribed; without a
        channel (sessions in PostgreSQL or Cassandra), every request reads the store and this returns at once."""
        if self.channel is not None:
            await self.channel.watch_revocations(stop, on_live=self._set_live, on_revoked=self._revoked)

    def _set_live(self, live: bool) -> None:
        self._cache.clear()
        self._generation += 1
        self._live = live

    def _revoked(self, subject: str) -> None:
        self._generation += 1
        if subject.startswith(TOKEN_SUBJECT):
            self._cache.pop(subject.removeprefix(TOKEN_SUBJECT), None)
        elif subject.startswith(USER_SUBJECT) and subject.removeprefix(USER_SUBJECT).isdigit():
            self._forget_user(int(subject.removeprefix(USER_SUBJECT)))
        else:  # not ours to read: drop everything rather than guess
            self._cache.clear()

    def _forget_user(self, user_id: int) -> None:
        for key in [k for k, (session, _) in self._cache.items() if session.user_id == user_id]:
            del self._cache[key]

    def _remember(self, key: str, session: Session) -> None:
        left = session.created_at + self.policy.absolute_s - time.time()
        if left <= 0:
            return
        if len(self._cache) >= SESSION_CACHE_ENTRIES:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = (session, time.monotonic() + min(SESSION_CACHE_S, left))

    async def _announce(self, subject: str) -> None:
        if self.channel is not None:
            await self.channel.announce_revoked(subject)

    async def open(self, user_id: int, role: UserRole) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session = Session(user_id=user_id, role=role, created_at=time.time())
        key = token_hash(token)
        if self.backup is not None:
            await self.backup.session_backup_put(key, session, absolute_s=self.policy.absolute_s)
        await self.store.create(key, session, idle_s=self.policy.idle_s, absolute_s=self.policy.absolute_s)
        return token

    async def resolve(self, token: str) -> Session | None:
        if not token or len(token) > 256:
            return None
        key = token_hash(token)
        if self._live and (hit := self._cache.get(key)) is not None:
            if hit[1] > time.monotonic():
                self.tally.hits += 1
                return hit[0]
            del self._cache[key]
        self.tally.misses += 1
        generation = self._generation
        try:
            session = await self.store.read(key, idle_s=self.policy.idle_s, absolute_s=self.policy.absolute_s)
        except StoreUnavailable as exc:
            if self.backup is None:
                raise
            log.warning("session checked against its PostgreSQL copy: the sessions store is down", reason=exc.reason)
            return await self.backup.session_backup_get(key)
        # Not kept if a revocation (of any session) was heard during the read: it may have been this one's.
        if session is not None and self._live and generation == self._generation:
            self._remember(key, session)
        return session

    async def close(self, token: str) -> None:
        key = token_hash(token)
        if self.backup is not None:
            await self.backup.session_backup_delete(key)
        await self.store.revoke(key, absolute_s=self.policy.absolute_s)
        self._revoked(TOKEN_SUBJECT + key)
        await self._announce(TOKEN_SUBJECT + key)

    async def close_all(self, user_id: int) -> None:
        """End every session ``user_id`` has now, this one included (sign out everywhere)."""
        if self.backup is not None:
            await self.backup.session_backup_delete_user(user_id)
        await self.store.revoke_user(user_id, absolute_s=self.policy.absolute_s)
        self._revoked(f"{USER_SUBJECT}{user_id}")
        await self._announce(f"{USER_SUBJECT}{user_id}")
