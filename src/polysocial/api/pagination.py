"""One cursor vocabulary for every list: ``?cursor=`` in, ``next_cursor`` out, and an RFC 8288 ``Link`` header with
``rel="next"`` (absent on the last page). A cursor is opaque to clients: pass back what the previous page gave.

The older names still work and are marked deprecated in the OpenAPI document: ``?before=`` with ``next_before`` on
newest-first lists (feed, timelines, comments, orders, ledger), ``?after=`` with ``next_after`` on id-ordered lists
(followers, following, mutuals, products, events). Giving a cursor and an old name together is refused (422).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

import orjson
from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from polysocial.api.responses import problems
from polysocial.api.schemas.common import MAX_ID
from polysocial.domain.ids import PATTERN as ID_PATTERN
from polysocial.services.social import MAX_PAGE

T = TypeVar("T")
RawHeaders = list[tuple[bytes, bytes]]
JSON = "application/json"

PAGING_PARAMETERS = frozenset({"cursor", "before", "after", "limit"})
CURSOR_PATTERN = r"^[0-9A-Za-z]{1,64}$"
DEFAULT_LIMIT = 20
PLAIN_LIMIT = re.compile(r"[1-9][0-9]{0,2}")  # a limit as a client writes it (FastAPI reads "+20", "020" too)

Cursor = Annotated[
    str | None,
    Query(
        pattern=CURSOR_PATTERN,
        description='where the page starts: the previous page\'s `next_cursor` (also in its `Link: rel="next"`)',
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size, at most {MAX_PAGE}")]

# The deprecated names, kept working.
OLD = "deprecated: use cursor (the last id of the page)"
BeforeId = Annotated[str | None, Query(pattern=ID_PATTERN.pattern, deprecated=True, description=OLD)]
BeforeNumber = Annotated[int | None, Query(ge=1, le=MAX_ID, deprecated=True, description=OLD)]
AfterNumber = Annotated[int | None, Query(ge=0, le=MAX_ID, deprecated=True, description=OLD)]


def _invalid(cursor: str, why: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", "cursor"), "msg": f"Value error, {why}", "input": cursor}]
    )


def id_cursor(cursor: str) -> str:
    if not ID_PATTERN.match(cursor):
        raise _invalid(cursor, "not a cursor this list gave (a post or comment id)")
    return cursor


def number_cursor(cursor: str) -> int:
    if not re.fullmatch(r"\d{1,16}", cursor) or int(cursor) > MAX_ID:
        raise _invalid(cursor, "not a cursor this list gave (a number)")
    return int(cursor)


def start(cursor: str | None, old: T | None, old_name: str, parse: Callable[[str], T]) -> T | None:
    """Where the page starts: the cursor, else the deprecated parameter's value."""
    if cursor is not None and old is not None:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", old_name),
                    "msg": f"Value error, give cursor only ({old_name} is its deprecated name)",
                    "input": old,
                }
            ]
        )
    return parse(cursor) if cursor is not None else old


def next_page(request: Request, response: Response, next_value: object | None, limit: int) -> str | None:
    """The ``next_cursor`` of this page; sets the ``Link`` header to the next page's URL (relative to this one's)."""
    if next_value is None:
        return None
    cursor = str(next_value)
    # The request's other parameters as they came, then the next page's (Starlette's URL.include_query_params does
    # the same with two URL rebuilds: 3% of a feed request's CPU).
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in PAGING_PARAMETERS]
    response.headers["Link"] = next_link(request.url.path, kept, cursor, limit)
    return cursor


def next_link(path: str, kept: list[tuple[str, str]], cursor: str, limit: int) -> str:
    """The ``Link`` header's value: the next page's URL, relative to this one's (``kept``: the request's other
    parameters, as they came)."""
    if not kept and cursor.isalnum() and cursor.isascii():  # nothing to escape: urlencode would write the same
        return f'<{path}?cursor={cursor}&limit={limit}>; rel="next"'
    return f'<{path}?{urlencode([*kept, ("cursor", cursor), ("limit", limit)])}>; rel="next"'


def dict_page_body(items: list[dict[str, Any]], last: object | None, cursor: str | None) -> bytes:
    """A page of items as JSON (orjson): the body both a route's Paging and a lean handler's LeanPage send."""
    return orjson.dumps({"items": items, "next_before": last, "next_cursor": cursor})


def page_body(items: list[bytes], last: object | None, cursor: str | None) -> bytes:
    """A page of items already rendered as JSON: the bytes orjson renders for the page of those items decoded."""
    tail = b'],"next_before":' + orjson.dumps(last) + b',"next_cursor":' + orjson.dumps(cursor) + b"}"
    return b'{"items":[' + b",".join(items) + tail


def json_page(body: bytes, headers: RawHeaders) -> Response:
    """A page of items a service built from stored documents (``body``, rendered once by orjson), with ``headers``
    (the Link header among them). The documents were validated when written, so pydantic's validation of the page
    and its rendering after it (a tenth of a feed request's CPU) are skipped; the route's ``response_model`` stays
    the schema, and the schemathesis test holds every answer to it."""
    answer = Response(body, media_type=JSON)
    answer.headers.raw.extend(headers)
    return answer


# The dependencies below are ``async def`` though they await nothing: FastAPI runs a plain ``def`` dependency in a
# thread pool, two thread switches per request (13% of a feed request's CPU in the profile, when these were ``def``).


@dataclass(frozen=True, slots=True)
class Paging(Generic[T]):
    """A list's page, as the request asks for it: where it starts (None: at the beginning) and its size; and the
    next page's cursor, set in the Link header too, once the page is known."""

    request: Request
    response: Response
    start: T | None
    limit: int

    def next_cursor(self, last: object | None) -> str | None:
        """``last``: the key of the page's last item when the page is full, else None (the last page)."""
        return next_page(self.request, self.response, last, self.limit)

    def rendered(self, items: list[dict[str, Any]], last: object | None) -> Response:
        """The page as json_page answers it, with this request's Link header (and any other header set on the
        dependency's response: FastAPI adds those only to a response it builds itself)."""
        return json_page(dict_page_body(items, last, self.next_cursor(last)), self.response.headers.raw)

    def rendered_items(self, items: list[bytes], last: object | None) -> Response:
        """``rendered`` for items already rendered as JSON (page_body)."""
        return json_page(page_body(items, last, self.next_cursor(last)), self.response.headers.raw)


async def _before_ids(
    request: Request, response: Response, cursor: Cursor = None, before: BeforeId = None, limit: Limit = DEFAULT_LIMIT
) -> Paging[str]:
    return Paging(request, response, start(cursor, before, "before", id_cursor), limit)


async def _before_numbers(
    request: Request,
    response: Response,
    cursor: Cursor = None,
    before: BeforeNumber = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Paging[int]:
    return Paging(request, response, start(cursor, before, "before", number_cursor), limit)


async def _after_numbers(
    request: Request, response: Response, cursor: Cursor = None, after: AfterNumber = None, limit: Limit = DEFAULT_LIMIT
) -> Paging[int]:
    return Paging(request, response, start(cursor, after, "after", number_cursor), limit)


@functools.lru_cache(maxsize=4096)  # the same few query strings, again and again (a page's limit, first pages)
def plain_newest_by_id(query: bytes) -> tuple[str | None, int] | None:
    """``NewestById``'s start and limit, read straight from a query string that holds nothing but ``cursor`` (a post
    or comment id) and ``limit`` (1 to MAX_PAGE, no sign or leading zero), each at most once and unencoded; None
    for any other query string, which FastAPI then reads and validates (a lean route's, api/lean.py)."""
    start: str | None = None
    limit = DEFAULT_LIMIT
    seen: set[str] = set()
    for part in query.decode("latin-1").split("&") if query else ():
        name, equals, value = part.partition("=")
        if not equals or name in seen:
            return None
        seen.add(name)
        if name == "cursor" and ID_PATTERN.fullmatch(value):
            start = value
        elif name == "limit" and PLAIN_LIMIT.fullmatch(value) and int(value) <= MAX_PAGE:
            limit = int(value)
        else:
            return None
    return start, limit


# Newest-first lists keyed by ULID (feed, timelines, comments), by number (orders, ledger); id-ordered lists (users,
# products, events).
NewestById = Annotated[Paging[str], Depends(_before_ids)]
NewestByNumber = Annotated[Paging[int], Depends(_before_numbers)]
ByNumber = Annotated[Paging[int], Depends(_after_numbers)]


# The response header, for the OpenAPI document of every list.
LINK_HEADER = {
    "Link": {
        "description": 'the next page, as `<url>; rel="next"` (RFC 8288); absent on the last page',
        "schema": {"type": "string"},
    }
}


def listing(*statuses: int, headers: dict[str, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """The responses of a list operation: a page (with its ``Link`` header, and ``headers``) and the problems."""
    page = {"description": "A page", "headers": {**LINK_HEADER, **(headers or {})}}
    return {200: page, **problems(*statuses)}
