"""Sessions: opaque bearer tokens of 256 random bits. Only the token's SHA-256 is stored, so a leaked session store
yields no usable token. Idle and absolute timeouts are enforced by the store on every read.

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
from polysocial.stores.redis.protocol import KeyValueStore
from polysocial.stores.relational.protocol import RelationalStore

log = get_logger(__name__)

TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_s: int = 30 * 60
    absolute_s: int = 8 * 3600


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(
    kv: KeyValueStore, policy: SessionPolicy, user_id: int, role: UserRole, *, backup: RelationalStore | None = None
) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session = Session(user_id=user_id, role=role, created_at=time.time())
    if backup is not None:
        await backup.session_backup_put(token_hash(token), session, absolute_s=policy.absolute_s)
    await kv.session_put(token_hash(token), session, idle_s=policy.idle_s, absolute_s=policy.absolute_s)
    return token


async def resolve_session(
    kv: KeyValueStore, policy: SessionPolicy, token: str, *, backup: RelationalStore | None = None
) -> Session | None:
    if not token or len(token) > 256:
        return None
    try:
        return await kv.session_get(token_hash(token), idle_s=policy.idle_s, absolute_s=policy.absolute_s)
    except StoreUnavailable as exc:
        if backup is None:
            raise
        log.warning("session checked against its PostgreSQL copy: redis is down", reason=exc.reason)
        return await backup.session_backup_get(token_hash(token))


async def close_session(kv: KeyValueStore, token: str, *, backup: RelationalStore | None = None) -> None:
    if backup is not None:
        await backup.session_backup_delete(token_hash(token))
    await kv.session_delete(token_hash(token))
