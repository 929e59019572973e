"""Operator views."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RelayStatusPublic(BaseModel):
    outbox_pending: int
    outbox_lag_s: float = Field(description="age of the oldest undelivered outbox event")
    dead_letters: int
    document_events_pending: int


class FeedRebuilt(BaseModel):
    user_id: int
    rebuilt: bool = Field(description="false where the profile keeps no timelines (feeds read from the sources)")
    home_posts: int = Field(description="posts in the rebuilt home timeline")
