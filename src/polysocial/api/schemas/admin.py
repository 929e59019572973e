"""Operator views."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RelayStatusPublic(BaseModel):
    outbox_pending: int
    outbox_lag_s: float = Field(description="age of the oldest undelivered outbox event")
    dead_letters: int
    document_events_pending: int
