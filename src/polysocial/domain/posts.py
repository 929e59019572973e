"""Posts, comments, likes and articles: the document side's rules."""

from __future__ import annotations

import re
from typing import Any

from polysocial.domain.errors import DomainError
from polysocial.domain.events import Event

POST = "post"
ARTICLE = "article"

POST_CREATED = "PostCreated"
POST_EDITED = "PostEdited"
POST_DELETED = "PostDeleted"
COMMENT_ADDED = "CommentAdded"
LIKES_CHANGED = "LikesChanged"  # a user liked or unliked the post: their likes' copy in the feed's cache goes

MAX_TEXT = 5_000
MAX_COMMENT = 2_000
LATEST_COMMENTS = 20  # the subset pattern: the newest comments ride in the post, all of them in their own collection
MAX_MEDIA = 10
MAX_EXTRA_FIELDS = 20
MAX_EXTRA_BYTES = 16_384
# Numbers in extra fields: what every client and store reads exactly (a double's integers; BSON's int64 holds them),
# so that JSON Schema can state the bound (EXTRA_VALUE_SCHEMA) and no validator's float arithmetic disagrees.
MAX_NUMBER = 2**53
MAX_DEPTH = 8  # containers within an extra field's value, below it
MEDIA_KINDS = ("image", "video", "audio", "link")

# Fields the server owns: a client can neither set nor change them.
SERVER_FIELDS = frozenset(
    {"id", "author_id", "stats", "created_at", "updated_at", "deleted", "deleted_at", "likers", "latest_comments"}
)
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class InvalidDocument(DomainError):
    status = 422
    title = "Invalid document"
    type_slug = "invalid-document"


def check_extra_fields(extra: dict[str, Any]) -> None:
    """Fields the code does not know are kept (the schema is flexible), within limits that keep documents sane."""
    if len(extra) > MAX_EXTRA_FIELDS:
        raise InvalidDocument(f"at most {MAX_EXTRA_FIELDS} extra fields")
    for name, value in extra.items():
        if name in SERVER_FIELDS:
            raise InvalidDocument(f"{name!r} is set by the server")
        if not FIELD_NAME.match(name):
            raise InvalidDocument(f"field name {name!r}: a letter, then letters, digits or _ (64 at most)")
        check_storable(value, name)


def check_storable(value: Any, where: str, depth: int = 0) -> None:
    """JSON the stores can hold: no NUL and valid Unicode in strings (PostgreSQL refuses both), bounded nesting."""
    if depth > MAX_DEPTH:
        raise InvalidDocument(f"{where}: nested too deep")
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidDocument(f"{where}: must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidDocument(f"{where}: must be valid Unicode text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not FIELD_NAME.match(key):
                raise InvalidDocument(f"{where}: key {key!r} is not a plain name")
            check_storable(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_storable(item, f"{where}[{i}]", depth + 1)
    elif isinstance(value, bool):
        return
    elif isinstance(value, int | float) and not -MAX_NUMBER <= value <= MAX_NUMBER:  # also refuses NaN
        raise InvalidDocument(f"{where}: a number of at most {MAX_NUMBER} in size")


def post_event(event_type: str, post_id: str, payload: dict[str, Any]) -> Event:
    return Event(POST, post_id, event_type, {"post_id": post_id, **payload})
