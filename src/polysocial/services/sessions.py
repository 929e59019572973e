"""Sessions: opaque bearer tokens of 256 random bits. Only the token's SHA-256 is stored, so a leaked session store
yields no usable token. Idle and absolute timeouts are enforced by the store on every read."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from polysocial.domain.accounts import Session, UserRole
from polysocial.stores.redis.protocol import KeyValueStore

TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle_s: int = 30 * 60
    absolute_s: int = 8 * 3600


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(kv: KeyValueStore, policy: SessionPolicy, user_id: int, role: UserRole) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session = Session(user_id=user_id, role=role, created_at=time.time())
    await kv.session_put(token_hash(token), session, idle_s=policy.idle_s, absolute_s=policy.absolute_s)
    return token


async def resolve_session(kv: KeyValueStore, policy: SessionPolicy, token: str) -> Session | None:
    if not token or len(token) > 256:
        return None
    return await kv.session_get(token_hash(token), idle_s=policy.idle_s, absolute_s=policy.absolute_s)


async def close_session(kv: KeyValueStore, token: str) -> None:
    await kv.session_delete(token_hash(token))
