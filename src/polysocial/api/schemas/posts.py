"""Posts, comments, likes and articles."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from polysocial.api.schemas.common import NextCursor, OldNextId, Strict, Text, WebUrl, storable
from polysocial.domain.posts import (
    FIELD_NAME,
    MAX_COMMENT,
    MAX_DEPTH,
    MAX_EXTRA_FIELDS,
    MAX_MEDIA,
    MAX_NUMBER,
    MAX_TEXT,
    SERVER_FIELDS,
)

PostText = Annotated[str, Text(MAX_TEXT)]


CommentText = Annotated[str, Text(MAX_COMMENT)]


Slug = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]


class Media(Strict):
    url: WebUrl
    kind: Literal["image", "video", "audio", "link"]


def _extra_field_rules(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Say in the schema which other fields are taken: names as check_extra_fields wants them, none that the server
    sets, at most MAX_EXTRA_FIELDS besides the known ones."""
    known = schema.get("properties", {})
    reserved = sorted(SERVER_FIELDS | set(getattr(model, "fixed_fields", ())))
    schema["propertyNames"] = {"pattern": FIELD_NAME.pattern, "not": {"enum": reserved}}
    schema["maxProperties"] = MAX_EXTRA_FIELDS + len(known)
    schema["additionalProperties"] = {"$ref": EXTRA_VALUE_REF}


# What an extra field may hold (check_storable): JSON whose object keys are plain names, whose numbers are at most
# MAX_NUMBER in size, and whose containers nest at most MAX_DEPTH deep. Recursive, so components of their own, one
# per depth (JSON Schema bounds nesting only by spelling each level out); create_app adds them to the document.
EXTRA_VALUE_REF = "#/components/schemas/ExtraValue"


def _extra_value_level(depth: int) -> dict[str, Any]:
    below: dict[str, Any] = (
        {"$ref": f"#/components/schemas/ExtraValue{depth + 1}"} if depth < MAX_DEPTH else {"not": {}}
    )  # "not {}" allows nothing: the deepest containers are empty
    return {
        "anyOf": [
            {"type": "null"},
            {"type": "boolean"},
            {"type": "number", "minimum": -MAX_NUMBER, "maximum": MAX_NUMBER},
            {"type": "string"},
            {"type": "array", "items": below},
            {"type": "object", "propertyNames": {"pattern": FIELD_NAME.pattern}, "additionalProperties": below},
        ]
    }


EXTRA_VALUE_SCHEMAS: dict[str, dict[str, Any]] = {
    "ExtraValue" if depth == 0 else f"ExtraValue{depth}": _extra_value_level(depth) for depth in range(MAX_DEPTH + 1)
}
EXTRA_VALUE_SCHEMAS["ExtraValue"]["description"] = (
    f"any JSON value: object keys are plain names (a letter, then letters, digits or _), numbers at most {MAX_NUMBER}"
    f" in size, containers at most {MAX_DEPTH} deep"
)


class Flexible(BaseModel):
    """Known fields are checked; any other field is kept as it is (within limits), as a document store allows."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_extra_field_rules)

    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class PostCreate(Flexible):
    text: PostText
    media: Annotated[list[Media], Field(max_length=MAX_MEDIA)] = []

    def known(self) -> dict[str, Any]:
        return {"text": self.text, "media": [{"url": m.url, "kind": m.kind} for m in self.media]}


class PostUpdate(Flexible):
    # Optional, not nullable: the schema says so (SkipJsonSchema), and the validator below refuses null.
    text: PostText | SkipJsonSchema[None] = None
    media: Annotated[list[Media], Field(max_length=MAX_MEDIA)] | SkipJsonSchema[None] = None

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
            known["media"] = [{"url": m.url, "kind": m.kind} for m in self.media]
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
    next_before: OldNextId = None
    next_cursor: NextCursor = None


class CommentCreate(Strict):
    text: CommentText


class CommentPage(BaseModel):
    items: list[CommentPublic]
    next_before: OldNextId = None
    next_cursor: NextCursor = None


class LikeState(BaseModel):
    post_id: str
    liked: bool
    likes: int


class ArticleCreate(Flexible):
    slug: Slug
    title: Annotated[str, Text(300)]
    content: Annotated[str, Field(max_length=100_000), AfterValidator(storable)]
    tags: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=50), AfterValidator(storable)]], Field(max_length=20)
    ] = []

    def known(self) -> dict[str, Any]:
        return {"slug": self.slug, "title": self.title, "content": self.content, "tags": self.tags}


class ArticleUpdate(Flexible):
    """The seed's ``$set`` example: new fields (video_url, reading_time, ...) without a migration."""

    fixed_fields: ClassVar[tuple[str, ...]] = ("slug",)

    title: Annotated[str, Text(300)] | None = None
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
