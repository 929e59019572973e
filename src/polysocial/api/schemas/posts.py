"""Posts, comments, likes and articles."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from polysocial.api.schemas.common import Strict, has_text, storable
from polysocial.domain.accounts import MAX_URL
from polysocial.domain.posts import MAX_COMMENT, MAX_MEDIA, MAX_TEXT

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
