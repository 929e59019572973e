"""Profiles: my account, anyone's public profile, and changes to my own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from polysocial.api.deps import AppDep, CallerDep
from polysocial.api.responses import problems
from polysocial.api.schemas import MePublic, ProfilePublic, ProfileUpdate
from polysocial.domain.errors import Forbidden, NotFound
from polysocial.services import accounts
from polysocial.services.profiles import get_profile

router = APIRouter(prefix="/users", tags=["accounts"])

UserId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a user id")]


@router.get("/me", response_model=MePublic, responses=problems(401), summary="My account and profile")
async def me(app: AppDep, caller: CallerDep) -> MePublic:
    async with app.relational.transaction() as tx:
        found = await tx.me(caller.user_id)
    if found is None:
        raise NotFound("this account no longer exists")
    return MePublic.of(found)


@router.get(
    "/{user_id}",
    response_model=ProfilePublic,
    responses=problems(401, 404, 422),
    summary="A user's public profile (cached for 5 minutes, invalidated on change)",
)
async def profile(user_id: UserId, app: AppDep, caller: CallerDep) -> ProfilePublic:
    found = await get_profile(app.relational, app.kv, user_id)
    if found is None:
        raise NotFound(f"user {user_id} does not exist")
    return ProfilePublic.of(found)


@router.patch(
    "/{user_id}/profile",
    response_model=ProfilePublic,
    responses=problems(401, 403, 404, 422),
    summary="Change my own profile",
)
async def update_profile(user_id: UserId, body: ProfileUpdate, app: AppDep, caller: CallerDep) -> ProfilePublic:
    if user_id != caller.user_id:
        raise Forbidden("you can change only your own profile")
    async with app.relational.transaction() as tx:
        await accounts.update_profile(tx, app.kv, user_id, body.changes())
        updated = await tx.profile(user_id)
    if updated is None:
        raise NotFound(f"user {user_id} does not exist")
    return ProfilePublic.of(updated)
