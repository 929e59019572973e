"""Follows and the graph queries. The caller acts as themself: every write is the caller's own follow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from polysocial.api.deps import AppDep, CallerDep
from polysocial.api.responses import problems
from polysocial.api.routes.users import UserId
from polysocial.api.schemas import (
    FollowCounts,
    FollowState,
    NearbyUser,
    Relationship,
    Separation,
    SuggestedUser,
    UserPage,
    UserRef,
)
from polysocial.services import social
from polysocial.stores.graph.protocol import MAX_PATH_HOPS

router = APIRouter(tags=["social graph"])

After = Annotated[int, Query(ge=0, le=2**63 - 1, description="the last user id of the previous page")]
Limit = Annotated[int, Query(ge=1, le=social.MAX_PAGE, description=f"page size, at most {social.MAX_PAGE}")]


async def page(app: AppDep, ids: list[int], limit: int) -> UserPage:
    users = await social.named(app.relational, ids)
    return UserPage(
        items=[UserRef(user_id=u.user_id, name=u.name) for u in users],
        next_after=ids[-1] if len(ids) == limit else None,
    )


@router.post(
    "/users/{user_id}/follow",
    response_model=FollowState,
    responses=problems(401, 404, 422),
    summary="Follow a user (following twice is still one follow)",
)
async def follow(user_id: UserId, app: AppDep, caller: CallerDep) -> FollowState:
    await social.set_following(app.relational, app.graph, caller.user_id, user_id, True)
    return FollowState(user_id=user_id, following=True)


@router.delete(
    "/users/{user_id}/follow",
    response_model=FollowState,
    responses=problems(401, 404, 422),
    summary="Stop following a user",
)
async def unfollow(user_id: UserId, app: AppDep, caller: CallerDep) -> FollowState:
    await social.set_following(app.relational, app.graph, caller.user_id, user_id, False)
    return FollowState(user_id=user_id, following=False)


@router.get("/users/{user_id}/followers", response_model=UserPage, responses=problems(401, 404, 422))
async def followers(user_id: UserId, app: AppDep, caller: CallerDep, after: After = 0, limit: Limit = 20) -> UserPage:
    await social.require_users(app.relational, user_id)
    return await page(app, await app.graph.followers(user_id, after=after, limit=limit), limit)


@router.get("/users/{user_id}/following", response_model=UserPage, responses=problems(401, 404, 422))
async def following(user_id: UserId, app: AppDep, caller: CallerDep, after: After = 0, limit: Limit = 20) -> UserPage:
    await social.require_users(app.relational, user_id)
    return await page(app, await app.graph.following(user_id, after=after, limit=limit), limit)


@router.get("/users/{user_id}/follow-counts", response_model=FollowCounts, responses=problems(401, 404, 422))
async def follow_counts(user_id: UserId, app: AppDep, caller: CallerDep) -> FollowCounts:
    await social.require_users(app.relational, user_id)
    followers_n, following_n = await app.graph.follow_counts(user_id)
    return FollowCounts(user_id=user_id, followers=followers_n, following=following_n)


@router.get(
    "/users/{user_id}/relationship",
    response_model=Relationship,
    responses=problems(401, 404, 422),
    summary="Whether I follow this user, and whether they follow me",
)
async def relationship(user_id: UserId, app: AppDep, caller: CallerDep) -> Relationship:
    await social.require_users(app.relational, user_id)
    return Relationship(
        user_id=user_id,
        i_follow=await app.graph.follows(caller.user_id, user_id),
        follows_me=await app.graph.follows(user_id, caller.user_id),
    )


@router.get(
    "/users/{user_id}/mutuals",
    response_model=UserPage,
    responses=problems(401, 404, 422),
    summary="The users both I and this user follow",
)
async def mutuals(user_id: UserId, app: AppDep, caller: CallerDep, after: After = 0, limit: Limit = 20) -> UserPage:
    await social.require_users(app.relational, user_id)
    ids = await app.graph.mutual_follows(caller.user_id, user_id, after=after, limit=limit)
    return await page(app, ids, limit)


@router.get(
    "/users/me/suggestions",
    response_model=list[SuggestedUser],
    responses=problems(401, 422),
    summary="Friends of friends I do not follow yet, by how many of my follows follow them",
)
async def suggestions(app: AppDep, caller: CallerDep, limit: Limit = 10) -> list[SuggestedUser]:
    found = await app.graph.suggestions(caller.user_id, limit=limit)
    names = await app.relational.user_names([s.user_id for s in found]) if found else {}
    return [SuggestedUser(user_id=s.user_id, name=names.get(s.user_id, ""), strength=s.strength) for s in found]


@router.get(
    "/users/me/nearby",
    response_model=list[NearbyUser],
    responses=problems(401, 422),
    summary="The users within a few follows of me, nearest first",
)
async def nearby(
    app: AppDep,
    caller: CallerDep,
    hops: Annotated[int, Query(ge=1, le=3, description="how many follows away, at most 3")] = 3,
    limit: Limit = 20,
) -> list[NearbyUser]:
    found = await app.graph.within_hops(caller.user_id, hops=hops, limit=limit)
    names = await app.relational.user_names([uid for uid, _ in found]) if found else {}
    return [NearbyUser(user_id=uid, name=names.get(uid, ""), distance=d) for uid, d in found]


@router.get(
    "/users/{user_id}/separation",
    response_model=Separation,
    responses=problems(401, 404, 422),
    summary=f"Degrees of separation from me to this user (the shortest follow path, up to {MAX_PATH_HOPS})",
)
async def separation(user_id: UserId, app: AppDep, caller: CallerDep) -> Separation:
    await social.require_users(app.relational, user_id)
    degrees = await app.graph.path_length(caller.user_id, user_id, max_hops=MAX_PATH_HOPS)
    return Separation(source=caller.user_id, target=user_id, degrees=degrees)
