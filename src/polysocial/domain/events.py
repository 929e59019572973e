"""Events: what happened, recorded in the same atomic unit as the change that caused it (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The trace context of the code that makes an event (W3C `traceparent`, and `tracestate`), carried through the outbox
# so that the relay's delivery continues the request's trace. Empty unless polysocial/tracing.py is on: it sets the
# function that reads the current context.
TRACE_CARRIER: list[Callable[[], dict[str, str]]] = [dict]


def current_trace() -> dict[str, str]:
    return TRACE_CARRIER[0]()


# Aggregate types
USER = "user"
CART = "cart"  # one aggregate per user's cart: its changes reach the durable copy in order
FOLLOW = "follow"  # one aggregate per (follower, followee) pair: follow and unfollow of a pair stay in order

# Event types
USER_REGISTERED = "UserRegistered"
PROFILE_UPDATED = "ProfileUpdated"
FOLLOWED = "Followed"
UNFOLLOWED = "Unfollowed"
CART_CHANGED = "CartChanged"
ACCOUNT_DELETED = "AccountDeleted"


@dataclass(frozen=True, slots=True)
class Event:
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: dict[str, Any]
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    trace: dict[str, str] = field(default_factory=current_trace)

    def to_json(self) -> dict[str, Any]:
        data = {
            "event_id": str(self.event_id),
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "event_type": self.event_type,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }
        if self.trace:
            data["trace"] = self.trace
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(
            aggregate_type=str(data["aggregate_type"]),
            aggregate_id=str(data["aggregate_id"]),
            event_type=str(data["event_type"]),
            payload=dict(data["payload"]),
            event_id=uuid.UUID(str(data["event_id"])),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            trace={str(k): str(v) for k, v in (data.get("trace") or {}).items()},
        )


def user_registered(user_id: int, name: str) -> Event:
    return Event(USER, str(user_id), USER_REGISTERED, {"user_id": user_id, "name": name})


def profile_updated(user_id: int, fields: dict[str, Any]) -> Event:
    return Event(USER, str(user_id), PROFILE_UPDATED, {"user_id": user_id, "fields": fields})


def followed(follower: int, followee: int) -> Event:
    return Event(FOLLOW, f"{follower}:{followee}", FOLLOWED, {"follower": follower, "followee": followee})


def unfollowed(follower: int, followee: int) -> Event:
    return Event(FOLLOW, f"{follower}:{followee}", UNFOLLOWED, {"follower": follower, "followee": followee})


def cart_changed(user_id: int, product_id: int, delta: int) -> Event:
    return Event(CART, str(user_id), CART_CHANGED, {"user_id": user_id, "product_id": product_id, "delta": delta})


def account_deleted(user_id: int) -> Event:
    return Event(USER, str(user_id), ACCOUNT_DELETED, {"user_id": user_id})
