"""Accounts: users, profiles, sessions. Value objects and the rules that do not need a database."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from polysocial.domain.errors import Conflict, DomainError, Unauthorized

MINIMUM_AGE_YEARS = 18
MAX_NAME = 100
MAX_BIO = 1000
MAX_URL = 2048
MIN_PASSWORD = 10
MAX_PASSWORD = 256  # argon2 takes any length; a bound stops a megabyte "password" from costing a hash of it


class UserRole(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class NewAccount:
    email: str
    password_hash: str = field(repr=False)
    name: str
    birthdate: date
    bio: str = ""
    avatar_url: str | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    user_id: int
    password_hash: str = field(repr=False)
    role: UserRole


@dataclass(frozen=True, slots=True)
class Profile:
    """The seed's get_user: the account, its profile, and its order count."""

    user_id: int
    name: str
    bio: str
    avatar_url: str | None
    birthdate: date
    created_at: datetime
    order_count: int


@dataclass(frozen=True, slots=True)
class UserCard:
    """What a reader sees of an author next to a post."""

    user_id: int
    name: str
    avatar_url: str | None


@dataclass(frozen=True, slots=True)
class Me:
    user_id: int
    email: str
    role: UserRole
    profile: Profile


@dataclass(frozen=True, slots=True)
class Session:
    user_id: int
    role: UserRole
    created_at: float  # unix seconds: the absolute timeout counts from here


# What the API accepts as an email (and `polysocial admin create` alike): something@domain.tld, no spaces or NULs.
EMAIL_PATTERN = r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"
MAX_EMAIL = 254


def normalise_email(email: str) -> str:
    """Emails are unique case-insensitively: stored and compared in lower case, surrounding spaces dropped."""
    return email.strip().lower()


def is_email(email: str) -> bool:
    return 3 <= len(email) <= MAX_EMAIL and re.match(EMAIL_PATTERN, email) is not None


def is_adult(birthdate: date, today: date) -> bool:
    try:
        cutoff = today.replace(year=today.year - MINIMUM_AGE_YEARS)
    except ValueError:  # 29 February, and the cutoff year is not a leap year
        cutoff = today.replace(year=today.year - MINIMUM_AGE_YEARS, day=28)
    return birthdate <= cutoff


@dataclass(frozen=True, slots=True)
class ErasedAccount:
    """What an erasure did in PostgreSQL: the follows it ended (each gets its Unfollowed event), and whether the
    account was erased before (a second erasure sweeps again and changes nothing else)."""

    user_id: int
    follows: list[tuple[int, int]]
    again: bool


def erased_email(user_id: int) -> str:
    """The address an erased account keeps: unique, and in a domain that cannot receive mail (RFC 2606)."""
    return f"erased-{user_id}@erased.invalid"


class EmailTaken(Conflict):
    title = "Email already registered"
    type_slug = "email-taken"


class TooYoung(DomainError):
    status = 422
    title = "Too young"
    type_slug = "too-young"


class InvalidCredentials(Unauthorized):
    """The same answer for an unknown email and a wrong password."""

    title = "Invalid credentials"
    type_slug = "invalid-credentials"

    def __init__(self, rate: dict[str, str] | None = None) -> None:
        self.rate = rate or {}  # the RateLimit-* headers of the failed-login limit, this failure counted
        super().__init__("the email or the password is wrong")

    @property
    def headers(self) -> dict[str, str]:
        return {**super().headers, **self.rate}
