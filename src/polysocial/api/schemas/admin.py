"""Operator views."""

from __future__ import annotations

from typing import Any

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


class ErasureStarted(BaseModel):
    user_id: int
    follows_ended: int = Field(description="follows to and from the account, ended with it")
    again: bool = Field(description="the account had been erased before: every store was swept again")
    progress: str = Field(description="where to see when every store is done")


class ErasureProgress(BaseModel):
    user_id: int
    complete: bool = Field(description="nothing is left but the anonymised account and the records the law keeps")
    remaining: list[str] = Field(description="what each store still holds, while the relay works through it")


class AccountExport(BaseModel):
    """Everything the platform holds about the account, by store (password hashes and session tokens excepted)."""

    format: str
    user_id: int
    exported_at: str
    relational: dict[str, list[dict[str, Any]]]
    documents: dict[str, Any]
    graph: dict[str, Any]
    keyvalue: dict[str, Any]
    sessions: dict[str, Any]
    timeseries: dict[str, Any]
