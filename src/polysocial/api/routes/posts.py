"""Posts, comments, likes, and blog-style articles found by slug."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from polysocial.api.caching import IfNoneMatch, conditional, conditional_responses
from polysocial.api.deps import CallerDep, PostsDep
from polysocial.api.lean import lean_route, newest_by_id, plain_id
from polysocial.api.pagination import NewestById, listing
from polysocial.api.responses import problems
from polysocial.api.routes.users import UserId
from polysocial.api.schemas.posts import (
    ArticleCreate,
    ArticlePublic,
    ArticleUpdate,
    CommentCreate,
    CommentPage,
    CommentPublic,
    LikeState,
    PostCreate,
    PostPage,
    PostPublic,
    PostUpdate,
)
from polysocial.domain.ids import PATTERN as ID_PATTERN
from polysocial.services.posts import Posts

router = APIRouter(tags=["posts"])

PostId = Annotated[str, Path(pattern=ID_PATTERN.pattern, description="a post id (26-character ULID)")]
SlugPath = Annotated[str, Path(min_length=1, max_length=120, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]


@router.post(
    "/posts",
    status_code=status.HTTP_201_CREATED,
    response_model=PostPublic,
    responses=problems(401, 422),
    summary="Publish a post (text and media URLs); the relay fans it out to followers' feeds",
)
async def create_post(body: PostCreate, posts: PostsDep, caller: CallerDep, response: Response) -> PostPublic:
    doc = await posts.create(caller.user_id, body.known(), body.extra_fields())
    response.headers["Location"] = f"/posts/{doc['id']}"
    return PostPublic.model_validate(doc)


@router.get(
    "/posts/{post_id}",
    response_model=PostPublic,
    responses=conditional_responses(problems(401, 404, 422)),
    summary="A post with its counts and latest comments (counts a view; an ETag for 304s)",
)
async def get_post(post_id: PostId, posts: PostsDep, caller: CallerDep, if_none_match: IfNoneMatch = None) -> Response:
    # A read that a 304 answers is still a view (recorded by posts.get).
    return conditional(PostPublic.model_validate(await posts.get(post_id, caller.user_id)), if_none_match)


@router.patch(
    "/posts/{post_id}", response_model=PostPublic, responses=problems(401, 403, 404, 422), summary="Edit my post"
)
async def edit_post(post_id: PostId, body: PostUpdate, posts: PostsDep, caller: CallerDep) -> PostPublic:
    return PostPublic.model_validate(await posts.edit(post_id, caller.user_id, body.known(), body.extra_fields()))


@router.delete(
    "/posts/{post_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
    summary="Delete my post (it leaves every feed)",
)
async def delete_post(post_id: PostId, posts: PostsDep, caller: CallerDep) -> Response:
    await posts.delete(post_id, caller.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def user_posts(user_id: UserId, posts: PostsDep, caller: CallerDep, paging: NewestById) -> Response:
    found = await posts.by_author(user_id, caller.user_id, before=paging.start, limit=paging.limit)
    return paging.rendered(found, found[-1]["id"] if len(found) == paging.limit else None)  # PostPage, rendered once


async def lean_user_posts(request: Request) -> Response | None:
    """user_posts for a plain user id and query string and a live session's bearer token, without FastAPI's
    dependency solving (api/lean.py); None for anything else, which user_posts answers."""
    user_id = plain_id(request.scope["path_params"]["user_id"])
    paging = await newest_by_id(request) if user_id is not None else None
    if user_id is None or paging is None:
        return None
    posts: Posts = request.app.state.polysocial.services.posts
    found = await posts.by_author(user_id, paging.caller.user_id, before=paging.start, limit=paging.limit)
    return paging.rendered(found, found[-1]["id"] if len(found) == paging.limit else None)


router.add_api_route(
    "/users/{user_id}/posts",
    user_posts,
    methods=["GET"],
    response_model=PostPage,
    responses=listing(401, 404, 422),
    summary="A user's posts, newest first",
    route_class_override=lean_route(lean_user_posts),
)


@router.post(
    "/posts/{post_id}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentPublic,
    responses=problems(401, 404, 422),
    summary="Comment on a post",
)
async def add_comment(post_id: PostId, body: CommentCreate, posts: PostsDep, caller: CallerDep) -> CommentPublic:
    return CommentPublic.model_validate(await posts.add_comment(post_id, caller.user_id, body.text))


@router.get(
    "/posts/{post_id}/comments",
    response_model=CommentPage,
    responses=listing(401, 404, 422),
    summary="A post's comments, newest first",
)
async def list_comments(post_id: PostId, posts: PostsDep, caller: CallerDep, paging: NewestById) -> CommentPage:
    found = await posts.comments(post_id, before=paging.start, limit=paging.limit)
    last = found[-1]["id"] if len(found) == paging.limit else None
    return CommentPage.model_validate({"items": found, "next_before": last, "next_cursor": paging.next_cursor(last)})


@router.put(
    "/posts/{post_id}/like",
    response_model=LikeState,
    responses=problems(401, 404, 422),
    summary="Like a post (liking twice is still one like)",
)
async def like(post_id: PostId, posts: PostsDep, caller: CallerDep) -> LikeState:
    return LikeState(post_id=post_id, liked=True, likes=await posts.like(post_id, caller.user_id))


@router.delete(
    "/posts/{post_id}/like", response_model=LikeState, responses=problems(401, 404, 422), summary="Take my like back"
)
async def unlike(post_id: PostId, posts: PostsDep, caller: CallerDep) -> LikeState:
    return LikeState(post_id=post_id, liked=False, likes=await posts.unlike(post_id, caller.user_id))


@router.post(
    "/articles",
    status_code=status.HTTP_201_CREATED,
    response_model=ArticlePublic,
    responses=problems(401, 409, 422),
    summary="Publish an article under a slug of my choosing",
)
async def create_article(body: ArticleCreate, posts: PostsDep, caller: CallerDep) -> ArticlePublic:
    return ArticlePublic.model_validate(await posts.create_article(caller.user_id, body.known(), body.extra_fields()))


@router.get(
    "/articles/{slug}",
    response_model=ArticlePublic,
    responses=conditional_responses(problems(401, 404, 422)),
    summary="An article by its slug (an ETag for 304s)",
)
async def get_article(
    slug: SlugPath, posts: PostsDep, caller: CallerDep, if_none_match: IfNoneMatch = None
) -> Response:
    return conditional(ArticlePublic.model_validate(await posts.article(slug, caller.user_id)), if_none_match)


@router.patch(
    "/articles/{slug}", response_model=ArticlePublic, responses=problems(401, 403, 404, 422), summary="Edit my article"
)
async def edit_article(slug: SlugPath, body: ArticleUpdate, posts: PostsDep, caller: CallerDep) -> ArticlePublic:
    doc = await posts.edit_article(slug, caller.user_id, body.known(), body.extra_fields())
    return ArticlePublic.model_validate(doc)
