"""The home feed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from polysocial.api.schemas.common import NextCursor, OldNextId
from polysocial.api.schemas.posts import PostStats


class Author(BaseModel):
    user_id: int
    name: str
    avatar_url: str | None


class FeedItem(BaseModel):
    """A post in a feed: its fields (plus any extra fields it was given), its author's name and avatar, and whether
    the reader liked it. Counts follow each like and comment as the outbox delivers it; the author's name and
    avatar are at most two minutes old."""

    model_config = ConfigDict(extra="allow")

    id: str
    author_id: int
    author: Author
    text: str
    media: list[dict[str, Any]]
    stats: PostStats
    created_at: str
    user_has_liked: bool


class FeedPage(BaseModel):
    items: list[FeedItem]
    next_before: OldNextId = None
    next_cursor: NextCursor = None
