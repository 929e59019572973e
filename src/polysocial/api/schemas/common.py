"""Shared pieces of the request and response bodies: text checks, the strict base, problem details, and the
types of money and ids."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from polysocial.domain.shop import MAX_QUANTITY
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


def has_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


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


Label = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(storable), AfterValidator(has_text)]


Amount = Annotated[Decimal, Field(gt=0, le=MAX_AMOUNT, decimal_places=2, max_digits=9, examples=["25.00"])]


Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
