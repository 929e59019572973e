"""Request and response bodies. Requests refuse unknown fields (422), and public bodies carry no secrets and no
server-owned fields a client could set (ids, timestamps, balances are answers, never inputs)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from polysocial.domain.accounts import MAX_BIO, MAX_NAME, MAX_PASSWORD, MAX_URL, MIN_PASSWORD, Me, Profile, UserRole
from polysocial.domain.posts import MAX_COMMENT, MAX_MEDIA, MAX_TEXT


def storable(value: str) -> str:
    """PostgreSQL text holds neither NUL nor lone surrogates (a JSON body can carry both): refuse them here."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def has_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


EMAIL_PATTERN = r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(storable), AfterValidator(has_text)]
Bio = Annotated[str, Field(max_length=MAX_BIO), AfterValidator(storable)]
Email = Annotated[
    str,
    Field(
        min_length=3, max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$", examples=["ada@example.com"]
    ),
    AfterValidator(storable),
]
AvatarUrl = Annotated[AnyHttpUrl, Field(max_length=MAX_URL)]
Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD), AfterValidator(storable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, Any]] | None = None


# -- accounts -------------------------------------------------------------------------------------------------------


class RegisterRequest(Strict):
    email: Email
    password: Password
    name: Name
    birthdate: date
    bio: Bio = ""
    avatar_url: AvatarUrl | None = None


class LoginRequest(Strict):
    email: Annotated[str, Field(min_length=1, max_length=254), AfterValidator(storable)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="seconds of inactivity after which the session ends")


class ProfilePublic(BaseModel):
    user_id: int
    name: str
    bio: str
    avatar_url: str | None
    created_at: datetime
    order_count: int

    @classmethod
    def of(cls, profile: Profile) -> ProfilePublic:
        return cls(
            user_id=profile.user_id,
            name=profile.name,
            bio=profile.bio,
            avatar_url=profile.avatar_url,
            created_at=profile.created_at,
            order_count=profile.order_count,
        )


class MePublic(BaseModel):
    user_id: int
    email: str
    role: UserRole
    birthdate: date
    profile: ProfilePublic

    @classmethod
    def of(cls, me: Me) -> MePublic:
        return cls(
            user_id=me.user_id,
            email=me.email,
            role=me.role,
            birthdate=me.profile.birthdate,
            profile=ProfilePublic.of(me.profile),
        )


class ProfileUpdate(Strict):
    """Only the fields sent change. ``avatar_url: null`` removes the avatar; the other fields cannot be null."""

    name: Name | None = None
    bio: Bio | None = None
    avatar_url: AvatarUrl | None = None
    birthdate: date | None = None

    @model_validator(mode="after")
    def _no_null_except_avatar(self) -> ProfileUpdate:
        nulls = [k for k in ("name", "bio", "birthdate") if k in self.model_fields_set and getattr(self, k) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(nulls)}")
        return self

    def changes(self) -> dict[str, Any]:
        changes = {k: getattr(self, k) for k in self.model_fields_set}
        if changes.get("avatar_url") is not None:
            changes["avatar_url"] = str(changes["avatar_url"])
        return changes


class RelayStatusPublic(BaseModel):
    outbox_pending: int
    outbox_lag_s: float = Field(description="age of the oldest undelivered outbox event")
    dead_letters: int
    document_events_pending: int


# -- the social graph -----------------------------------------------------------------------------------------------


class UserRef(BaseModel):
    user_id: int
    name: str


class UserPage(BaseModel):
    items: list[UserRef]
    next_after: int | None = Field(description="pass as ?after= for the next page; null on the last page")


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


# -- posts, comments, likes, articles -------------------------------------------------------------------------------

PostText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(storable), AfterValidator(has_text)]
CommentText = Annotated[
    str, Field(min_length=1, max_length=MAX_COMMENT), AfterValidator(storable), AfterValidator(has_text)
]
Slug = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]


class Media(Strict):
    url: Annotated[AnyHttpUrl, Field(max_length=MAX_URL)]
    kind: Literal["image", "video", "audio", "link"]


class Flexible(BaseModel):
    """Known fields are checked; any other field is kept as it is (within limits), as a document store allows."""

    model_config = ConfigDict(extra="allow")

    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class PostCreate(Flexible):
    text: PostText
    media: Annotated[list[Media], Field(max_length=MAX_MEDIA)] = []

    def known(self) -> dict[str, Any]:
        return {"text": self.text, "media": [{"url": str(m.url), "kind": m.kind} for m in self.media]}


class PostUpdate(Flexible):
    text: PostText | None = None
    media: Annotated[list[Media], Field(max_length=MAX_MEDIA)] | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> PostUpdate:
        if any(k in self.model_fields_set and getattr(self, k) is None for k in ("text", "media")):
            raise ValueError("text and media cannot be null")
        return self

    def known(self) -> dict[str, Any]:
        known: dict[str, Any] = {}
        if "text" in self.model_fields_set:
            known["text"] = self.text
        if "media" in self.model_fields_set and self.media is not None:
            known["media"] = [{"url": str(m.url), "kind": m.kind} for m in self.media]
        return known


class PostStats(BaseModel):
    likes: int
    comments: int
    shares: int


class CommentPublic(BaseModel):
    id: str
    post_id: str
    author_id: int
    text: str
    created_at: str


class PostPublic(BaseModel):
    """A post as stored: the known fields below, plus any extra fields it was given."""

    model_config = ConfigDict(extra="allow")

    id: str
    author_id: int
    text: str
    media: list[dict[str, Any]]
    stats: PostStats
    latest_comments: list[CommentPublic]
    created_at: str
    liked_by_me: bool


class PostPage(BaseModel):
    items: list[PostPublic]
    next_before: str | None = Field(description="pass as ?before= for the next page; null on the last page")


class Author(BaseModel):
    user_id: int
    name: str
    avatar_url: str | None


class FeedItem(BaseModel):
    """A post in a feed: its fields (plus any extra fields it was given), its author's name and avatar, and whether
    the reader liked it. Counts are at most 30 seconds old."""

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
    next_before: str | None = Field(description="pass as ?before= for the next page; null on the last page")


class CommentCreate(Strict):
    text: CommentText


class CommentPage(BaseModel):
    items: list[CommentPublic]
    next_before: str | None


class LikeState(BaseModel):
    post_id: str
    liked: bool
    likes: int


class ArticleCreate(Flexible):
    slug: Slug
    title: Annotated[str, Field(min_length=1, max_length=300), AfterValidator(storable), AfterValidator(has_text)]
    content: Annotated[str, Field(max_length=100_000), AfterValidator(storable)]
    tags: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=50), AfterValidator(storable)]], Field(max_length=20)
    ] = []

    def known(self) -> dict[str, Any]:
        return {"slug": self.slug, "title": self.title, "content": self.content, "tags": self.tags}


class ArticleUpdate(Flexible):
    """The seed's ``$set`` example: new fields (video_url, reading_time, ...) without a migration."""

    title: (
        Annotated[str, Field(min_length=1, max_length=300), AfterValidator(storable), AfterValidator(has_text)] | None
    ) = None
    content: Annotated[str, Field(max_length=100_000), AfterValidator(storable)] | None = None

    @model_validator(mode="after")
    def _slug_is_fixed(self) -> ArticleUpdate:
        if "slug" in (self.model_extra or {}):
            raise ValueError("the slug of an article cannot change")
        return self

    def known(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("title", "content")
            if k in self.model_fields_set and getattr(self, k) is not None
        }


class ArticlePublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    slug: str
    author_id: int
    title: str
    content: str
    tags: list[str]
    stats: PostStats
    created_at: str
