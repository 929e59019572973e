"""Follows and the graph queries. The caller acts as themself: every write is the caller's own follow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from polysocial.api.deps import CallerDep, SocialDep
from polysocial.api.pagination import ByNumber, Limit, Paging, listing
from polysocial.api.responses import problems
from polysocial.api.routes.users import UserId
from polysocial.api.schemas.social import (
    FollowCounts,
    FollowState,
    NearbyUser,
    Relationship,
    Separation,
    SuggestedUser,
    UserPage,
    UserRef,
)
from polysocial.services.social import FollowPage
from polysocial.stores.graph.protocol import MAX_PATH_HOPS

router = APIRouter(tags=["social graph"])


def page(paging: Paging[int], found: FollowPage) -> UserPage:
    return UserPage(
        items=[UserRef(user_id=u.user_id, name=u.name) for u in found.users],
        next_after=found.next_after,
        next_cursor=paging.next_cursor(found.next_after),
    )


@router.post(
    "/users/{user_id}/follow",
    response_model=FollowState,
    responses=problems(401, 404, 422),
    summary="Follow a user (following twice is still one follow)",
)
async def follow(user_id: UserId, social: SocialDep, caller: CallerDep) -> FollowState:
    await social.follow(caller.user_id, user_id)
    return FollowState(user_id=user_id, following=True)


@router.delete(
    "/users/{user_id}/follow",
    response_model=FollowState,
    responses=problems(401, 404, 422),
    summary="Stop following a user",
)
async def unfollow(user_id: UserId, social: SocialDep, caller: CallerDep) -> FollowState:
    await social.unfollow(caller.user_id, user_id)
    return FollowState(user_id=user_id, following=False)


@router.get(
    "/users/{user_id}/followers",
    response_model=UserPage,
    responses=listing(401, 404, 422),
    summary="Who follows this user, in user id order",
)
async def followers(user_id: UserId, social: SocialDep, caller: CallerDep, paging: ByNumber) -> UserPage:
    return page(paging, await social.followers(user_id, after=paging.start or 0, limit=paging.limit))


@router.get(
    "/users/{user_id}/following",
    response_model=UserPage,
    responses=listing(401, 404, 422),
    summary="Whom this user follows, in user id order",
)
async def following(user_id: UserId, social: SocialDep, caller: CallerDep, paging: ByNumber) -> UserPage:
    return page(paging, await social.following(user_id, after=paging.start or 0, limit=paging.limit))


@router.get(
    "/users/{user_id}/follow-counts",
    response_model=FollowCounts,
    responses=problems(401, 404, 422),
    summary="How many follow this user, and how many they follow",
)
async def follow_counts(user_id: UserId, social: SocialDep, caller: CallerDep) -> FollowCounts:
    followers_n, following_n = await social.counts(user_id)
    return FollowCounts(user_id=user_id, followers=followers_n, following=following_n)


@router.get(
    "/users/{user_id}/relationship",
    response_model=Relationship,
    responses=problems(401, 404, 422),
    summary="Whether I follow this user, and whether they follow me",
)
async def relationship(user_id: UserId, social: SocialDep, caller: CallerDep) -> Relationship:
    i_follow, follows_me = await social.relationship(caller.user_id, user_id)
    return Relationship(user_id=user_id, i_follow=i_follow, follows_me=follows_me)


@router.get(
    "/users/{user_id}/mutuals",
    response_model=UserPage,
    responses=listing(401, 404, 422),
    summary="The users both I and this user follow",
)
async def mutuals(user_id: UserId, social: SocialDep, caller: CallerDep, paging: ByNumber) -> UserPage:
    return page(paging, await social.mutuals(caller.user_id, user_id, after=paging.start or 0, limit=paging.limit))


@router.get(
    "/users/me/suggestions",
    response_model=list[SuggestedUser],
    responses=problems(401, 422),
    summary="Friends of friends I do not follow yet, by how many of my follows follow them",
)
async def suggestions(social: SocialDep, caller: CallerDep, limit: Limit = 10) -> list[SuggestedUser]:
    found = await social.suggestions(caller.user_id, limit=limit)
    return [SuggestedUser(user_id=s.user_id, name=s.name, strength=s.strength) for s in found]


@router.get(
    "/users/me/nearby",
    response_model=list[NearbyUser],
    responses=problems(401, 422),
    summary="The users within a few follows of me, nearest first",
)
async def nearby(
    social: SocialDep,
    caller: CallerDep,
    hops: Annotated[int, Query(ge=1, le=3, description="how many follows away, at most 3")] = 3,
    limit: Limit = 20,
) -> list[NearbyUser]:
    found = await social.nearby(caller.user_id, hops=hops, limit=limit)
    return [NearbyUser(user_id=n.user_id, name=n.name, distance=n.distance) for n in found]


@router.get(
    "/users/{user_id}/separation",
    response_model=Separation,
    responses=problems(401, 404, 422),
    summary=f"Degrees of separation from me to this user (the shortest follow path, up to {MAX_PATH_HOPS})",
)
async def separation(user_id: UserId, social: SocialDep, caller: CallerDep) -> Separation:
    degrees = await social.separation(caller.user_id, user_id)
    return Separation(source=caller.user_id, target=user_id, degrees=degrees)
