"""The social graph: follows, lists, counts, suggestions, distances."""

from __future__ import annotations

from pydantic import BaseModel, Field

from polysocial.api.schemas.common import NextCursor, OldNextNumber


class UserRef(BaseModel):
    user_id: int
    name: str


class UserPage(BaseModel):
    items: list[UserRef]
    next_after: OldNextNumber = None
    next_cursor: NextCursor = None


class FollowState(BaseModel):
    user_id: int
    following: bool


class FollowCounts(BaseModel):
    user_id: int
    followers: int
    following: int


class Relationship(BaseModel):
    user_id: int
    i_follow: bool
    follows_me: bool


class SuggestedUser(UserRef):
    strength: int = Field(description="how many of the people I follow follow this user")


class NearbyUser(UserRef):
    distance: int = Field(description="the fewest follows from me to this user")


class Separation(BaseModel):
    source: int
    target: int
    degrees: int | None = Field(description="the fewest follows from source to target; null if more than max_hops")
