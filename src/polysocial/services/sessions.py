"""Sessions: opaque bearer tokens of 256 random bits. Only the token's SHA-256 is stored, so a leaked session store
yields no usable token. Idle and absolute timeouts are enforced by the store on every read. The sessions role is
Redis (`embedded`), Cassandra (`seed`) or PostgreSQL (`postgres-only`): stores/sessions/.

Where sessions live in Redis, a copy goes to PostgreSQL at login (``backup``) and is read only while Redis is down,
so that signed-in users keep working through an outage; during it, only the absolute timeout is enforced (the
idle timer lives in Redis). Logout deletes the copy first, then the session: if Redis is down, logout fails (503)
rather than leave a session that Redis would bring back."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from polysocial.domain.accounts import Session, UserRole
from polysocial.domain.errors import StoreUnavailable
from polysocial.logging import get_logger
from polysocial.stores.relational.protocol import RelationalStore
from polysocial.stores.sessions.protocol import SessionStore

log = get_logger(__name__)

TOKEN_BYTES = 32


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
        try:
            return await self.store.read(key, idle_s=self.policy.idle_s, absolute_s=self.policy.absolute_s)
        except StoreUnavailable as exc:
            if self.backup is None:
                raise
            log.warning("session checked against its PostgreSQL copy: the sessions store is down", reason=exc.reason)
            return await self.backup.session_backup_get(key)

    async def close(self, token: str) -> None:
        if self.backup is not None:
            await self.backup.session_backup_delete(token_hash(token))
        await self.store.revoke(token_hash(token), absolute_s=self.policy.absolute_s)

    async def close_all(self, user_id: int) -> None:
        """End every session ``user_id`` has now, this one included (sign out everywhere)."""
        if self.backup is not None:
            await self.backup.session_backup_delete_user(user_id)
        await self.store.revoke_user(user_id, absolute_s=self.policy.absolute_s)
