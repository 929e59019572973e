"""Profile reads: the seed's get_user (users + profile + order count) behind cache-aside in the key-value role.

TTL 5 minutes; invalidated right after a profile change commits, and again by the ProfileUpdated event's handler
(a backstop for a process that dies between the commit and the invalidation)."""

from __future__ import annotations

import json
from datetime import date, datetime

from polysocial.domain.accounts import Profile
from polysocial.services.cache import cache_aside
from polysocial.stores.keyvalue.protocol import KeyValueStore
from polysocial.stores.relational.protocol import RelationalStore

PROFILE_TTL_S = 300


def profile_key(user_id: int) -> str:
    return f"profile:{user_id}"


def encode_profile(profile: Profile) -> bytes:
    return json.dumps(
        {
            "user_id": profile.user_id,
            "name": profile.name,
            "bio": profile.bio,
            "avatar_url": profile.avatar_url,
            "birthdate": profile.birthdate.isoformat(),
            "created_at": profile.created_at.isoformat(),
            "order_count": profile.order_count,
        }
    ).encode()


def decode_profile(raw: bytes) -> Profile:
    data = json.loads(raw)
    return Profile(
        user_id=int(data["user_id"]),
        name=data["name"],
        bio=data["bio"],
        avatar_url=data["avatar_url"],
        birthdate=date.fromisoformat(data["birthdate"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        order_count=int(data["order_count"]),
    )


async def get_profile(relational: RelationalStore, keyvalue: KeyValueStore, user_id: int) -> Profile | None:
    async def load() -> bytes | None:
        async with relational.reading(stale_ok=True) as tx:  # a replica may answer
            profile = await tx.accounts.profile(user_id)
        return encode_profile(profile) if profile is not None else None

    raw = await cache_aside(keyvalue, profile_key(user_id), ttl_s=PROFILE_TTL_S, load=load)
    return decode_profile(raw) if raw is not None else None


async def invalidate_profile(keyvalue: KeyValueStore, user_id: int) -> None:
    await keyvalue.cache_invalidate(profile_key(user_id))
    await keyvalue.cache_invalidate(card_key(user_id))


def card_key(user_id: int) -> str:
    """The feed's cache of an author's name and avatar (services/feed.py), dropped with the profile."""
    return f"card:{user_id}"
