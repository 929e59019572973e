"""Profiles: my account, anyone's public profile, and changes to my own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from polysocial.api.caching import IfNoneMatch, conditional, conditional_responses
from polysocial.api.deps import AccountsDep, CallerDep
from polysocial.api.responses import problems
from polysocial.api.schemas.accounts import MePublic, ProfilePublic, ProfileUpdate
from polysocial.api.schemas.common import MAX_ID

router = APIRouter(prefix="/users", tags=["accounts"])

UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="a user id")]


@router.get(
    "/me",
    response_model=MePublic,
    responses=conditional_responses(problems(401, 422)),
    summary="My account and profile",
)
async def me(accounts: AccountsDep, caller: CallerDep, if_none_match: IfNoneMatch = None) -> Response:
    return conditional(MePublic.of(await accounts.me(caller.user_id)), if_none_match)


@router.get(
    "/{user_id}",
    response_model=ProfilePublic,
    responses=conditional_responses(problems(401, 404, 422)),
    summary="A user's public profile (cached for 5 minutes, invalidated on change)",
)
async def profile(
    user_id: UserId, accounts: AccountsDep, caller: CallerDep, if_none_match: IfNoneMatch = None
) -> Response:
    return conditional(ProfilePublic.of(await accounts.profile(user_id)), if_none_match)


@router.patch(
    "/{user_id}/profile",
    response_model=ProfilePublic,
    responses=problems(401, 403, 404, 422),
    summary="Change my own profile",
)
async def update_profile(
    user_id: UserId, body: ProfileUpdate, accounts: AccountsDep, caller: CallerDep
) -> ProfilePublic:
    return ProfilePublic.of(await accounts.update_profile(caller.user_id, user_id, body.changes()))
