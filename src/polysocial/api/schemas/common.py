"""Shared pieces of the request and response bodies: text checks, the strict base, problem details, and the
types of money and ids."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from annotated_types import GroupedMetadata
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic.config import JsonDict

from polysocial.domain.accounts import MAX_URL
from polysocial.domain.shop import MAX_QUANTITY
from polysocial.domain.text import strip_blank
from polysocial.domain.wallet import MAX_AMOUNT


def storable(value: str) -> str:
    """PostgreSQL text holds neither NUL nor lone surrogates (a JSON body can carry both): refuse them here."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


# The schema's twin of domain/text.BLANK (ASCII white space only, so that every regex dialect reads it alike): the two
# must list the same characters.
NOT_BLANK: JsonDict = {"pattern": r"[^ \t\n\r\v\f]"}  # for json_schema_extra: some character is not blank


def has_text(value: str) -> str:
    stripped = strip_blank(value)  # ASCII white space: domain/text.py, as the services strip
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


def http_url(value: str) -> str:
    """An http(s) URL, kept as it was sent: pydantic's URL type normalises (``http://a.b`` becomes ``http://a.b/``),
    which made a URL of exactly the maximum length one character too long."""
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError as exc:
        raise ValueError(f"not an http(s) URL: {exc.errors()[0]['msg']}") from None
    return value


WebUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL,
        pattern=r"^[hH][tT][tT][pP][sS]?://[^\s/?#]+",
        json_schema_extra={"format": "uri"},
    ),
    AfterValidator(storable),
    AfterValidator(http_url),
]


class Strict(BaseModel):
    """A request body: no field the schema does not name. (Its numbers and dates are strict types, below: pydantic's
    lax mode would take "5" as 5 and a number as a date, schema-invalid input accepted.)"""

    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, Any]] | None = None


class Text(GroupedMetadata):
    """``Annotated[str, Text(n)]``: 1 to ``n`` characters, some of them not blank, storable in PostgreSQL; the schema
    says the same (a pattern any regex dialect reads alike)."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length

    def __iter__(self) -> Iterator[Any]:
        yield Field(min_length=1, max_length=self.max_length, json_schema_extra=NOT_BLANK)
        yield AfterValidator(storable)
        yield AfterValidator(has_text)


Label = Annotated[str, Text(200)]


# Money travels as a decimal string, never a JSON number (a binary float to most clients). The pattern is the whole
# rule, so the schema tells the truth: more than 0, at most MAX_AMOUNT (1,000,000), at most two decimals.
AMOUNT_PATTERN = r"^(?!0(?:\.0{1,2})?$)(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,2})?$|^1000000(?:\.0{1,2})?$"
if Decimal(1_000_000) != MAX_AMOUNT:
    raise RuntimeError("AMOUNT_PATTERN spells the maximum out: change both")


def amount_text(value: object) -> object:
    if not isinstance(value, str) or not re.fullmatch(AMOUNT_PATTERN, value):
        raise ValueError(
            f'an amount is a string such as "25.00": more than 0, at most {MAX_AMOUNT}, two decimals at most'
        )
    return value


Amount = Annotated[
    Decimal,
    BeforeValidator(amount_text),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["25.00"]}),
]


def json_integer(value: object) -> object:
    """An integer as JSON Schema means one: a number with no fraction (``5`` or ``5.0``), never text or a boolean
    (pydantic's lax mode reads "5" and true as integers; its strict mode refuses 5.0)."""
    if isinstance(value, str | bool):
        raise ValueError("an integer (a JSON number, not text)")
    return value


# The check goes last in Annotated: before the bounds, it would hide them from the JSON Schema (pydantic then writes
# "ge"/"le", which no validator reads, instead of minimum/maximum).
JSON_INTEGER = BeforeValidator(json_integer)
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY), JSON_INTEGER]


# Ids stay within what every JSON client reads exactly (2**53 - 1; JavaScript's numbers are doubles), which also
# keeps a schema validator's float comparison honest at the bound.
MAX_ID = 2**53 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID), JSON_INTEGER]


def iso_text(value: object) -> object:
    """Dates and times come as ISO 8601 strings (pydantic would also read a number as seconds since 1970)."""
    if not isinstance(value, str):
        raise ValueError("an ISO 8601 string, such as 1990-01-31 or 2027-01-15T10:00:00Z")
    return value


IsoDate = Annotated[date, BeforeValidator(iso_text)]
IsoDateTime = Annotated[datetime, BeforeValidator(iso_text)]


# Every list's page carries the next page's cursor (api/pagination.py); the older names stay, deprecated.
NextCursor = Annotated[
    str | None, Field(description="the next page's ?cursor= (also in the Link header); null on the last page")
]
OldNextId = Annotated[
    str | None, Field(description="deprecated: use next_cursor", json_schema_extra={"deprecated": True})
]
OldNextNumber = Annotated[
    int | None, Field(description="deprecated: use next_cursor", json_schema_extra={"deprecated": True})
]
