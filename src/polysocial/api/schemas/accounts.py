"""Accounts: sign-up, sign-in, my account, public profiles and changes to them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from polysocial.api.schemas.common import IsoDate, Strict, Text, WebUrl, storable
from polysocial.domain.accounts import (
    EMAIL_PATTERN,
    MAX_BIO,
    MAX_EMAIL,
    MAX_NAME,
    MAX_PASSWORD,
    MIN_PASSWORD,
    Me,
    Profile,
    UserRole,
)

Name = Annotated[str, Text(MAX_NAME)]


Bio = Annotated[str, Field(max_length=MAX_BIO), AfterValidator(storable)]


Email = Annotated[
    str,
    Field(min_length=3, max_length=MAX_EMAIL, pattern=EMAIL_PATTERN, examples=["ada@example.com"]),
    AfterValidator(storable),
]


AvatarUrl = WebUrl


Password = Annotated[str, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD), AfterValidator(storable)]


class RegisterRequest(Strict):
    email: Email
    password: Annotated[Password, Field(repr=False)]
    name: Name
    birthdate: IsoDate
    bio: Bio = ""
    avatar_url: AvatarUrl | None = None


class LoginRequest(Strict):
    email: Annotated[str, Field(min_length=1, max_length=254), AfterValidator(storable)]
    password: Annotated[str, Field(min_length=1, max_length=1024, repr=False)]


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

    # Optional, not nullable: the schema says so (SkipJsonSchema), and the validator below refuses null.
    name: Name | SkipJsonSchema[None] = None
    bio: Bio | SkipJsonSchema[None] = None
    avatar_url: AvatarUrl | None = None
    birthdate: IsoDate | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_null_except_avatar(self) -> ProfileUpdate:
        nulls = [k for k in ("name", "bio", "birthdate") if k in self.model_fields_set and getattr(self, k) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(nulls)}")
        return self

    def changes(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.model_fields_set}
