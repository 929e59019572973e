"""Posts, comments, likes, and blog-style articles found by slug."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from polysocial.api.deps import AppDep, CallerDep
from polysocial.api.responses import problems
from polysocial.api.routes.users import UserId
from polysocial.api.schemas import (
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
from polysocial.domain.analytics import PostView
from polysocial.domain.errors import Conflict
from polysocial.domain.ids import PATTERN as ID_PATTERN
from polysocial.services import posts
from polysocial.services.social import MAX_PAGE, require_users
from polysocial.stores.documents.protocol import ARTICLES, POSTS

router = APIRouter(tags=["posts"])

PostId = Annotated[str, Path(pattern=ID_PATTERN.pattern, description="a post id (26-character ULID)")]
Before = Annotated[str | None, Query(pattern=ID_PATTERN.pattern, description="the last id of the previous page")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size, at most {MAX_PAGE}")]
SlugPath = Annotated[str, Path(min_length=1, max_length=120, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]


def shown(doc: dict[str, Any], viewer: int) -> PostPublic:
    return PostPublic.model_validate(posts.public(doc, viewer))


@router.post("/posts", status_code=status.HTTP_201_CREATED, response_model=PostPublic, responses=problems(401, 422))
async def create_post(body: PostCreate, app: AppDep, caller: CallerDep, response: Response) -> PostPublic:
    doc = await posts.create(app.documents, POSTS, caller.user_id, body.known(), body.extra_fields())
    response.headers["Location"] = f"/posts/{doc['id']}"
    return shown(doc, caller.user_id)


@router.get("/posts/{post_id}", response_model=PostPublic, responses=problems(401, 404, 422))
async def get_post(post_id: PostId, app: AppDep, caller: CallerDep) -> PostPublic:
    post = shown(await posts.live(app.documents, POSTS, post_id), caller.user_id)
    app.analytics.record_view(PostView(post_id, caller.user_id, datetime.now(UTC)))
    return post


@router.patch("/posts/{post_id}", response_model=PostPublic, responses=problems(401, 403, 404, 422))
async def edit_post(post_id: PostId, body: PostUpdate, app: AppDep, caller: CallerDep) -> PostPublic:
    doc = await posts.edit(app.documents, POSTS, post_id, caller.user_id, body.known(), body.extra_fields())
    return shown(doc, caller.user_id)


@router.delete("/posts/{post_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(401, 403, 404, 422))
async def delete_post(post_id: PostId, app: AppDep, caller: CallerDep) -> Response:
    await posts.delete(app.documents, POSTS, post_id, caller.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/{user_id}/posts", response_model=PostPage, responses=problems(401, 404, 422))
async def user_posts(
    user_id: UserId, app: AppDep, caller: CallerDep, before: Before = None, limit: Limit = 20
) -> PostPage:
    await require_users(app.relational, user_id)
    found = await posts.by_author(app.documents, user_id, before=before, limit=limit)
    return PostPage(
        items=[shown(d, caller.user_id) for d in found], next_before=found[-1]["id"] if len(found) == limit else None
    )


@router.post(
    "/posts/{post_id}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentPublic,
    responses=problems(401, 404, 422),
)
async def add_comment(post_id: PostId, body: CommentCreate, app: AppDep, caller: CallerDep) -> CommentPublic:
    return CommentPublic.model_validate(await posts.add_comment(app.documents, post_id, caller.user_id, body.text))


@router.get("/posts/{post_id}/comments", response_model=CommentPage, responses=problems(401, 404, 422))
async def list_comments(
    post_id: PostId, app: AppDep, caller: CallerDep, before: Before = None, limit: Limit = 20
) -> CommentPage:
    found = await posts.comments(app.documents, post_id, before=before, limit=limit)
    return CommentPage(
        items=[CommentPublic.model_validate(c) for c in found],
        next_before=found[-1]["id"] if len(found) == limit else None,
    )


@router.put("/posts/{post_id}/like", response_model=LikeState, responses=problems(401, 404, 422))
async def like(post_id: PostId, app: AppDep, caller: CallerDep) -> LikeState:
    likes = await posts.set_like(app.documents, post_id, caller.user_id, True)
    return LikeState(post_id=post_id, liked=True, likes=likes)


@router.delete("/posts/{post_id}/like", response_model=LikeState, responses=problems(401, 404, 422))
async def unlike(post_id: PostId, app: AppDep, caller: CallerDep) -> LikeState:
    likes = await posts.set_like(app.documents, post_id, caller.user_id, False)
    return LikeState(post_id=post_id, liked=False, likes=likes)


@router.post(
    "/articles", status_code=status.HTTP_201_CREATED, response_model=ArticlePublic, responses=problems(401, 409, 422)
)
async def create_article(body: ArticleCreate, app: AppDep, caller: CallerDep) -> ArticlePublic:
    try:
        doc = await posts.create(app.documents, ARTICLES, caller.user_id, body.known(), body.extra_fields())
    except Conflict:
        raise Conflict(f"the slug {body.slug!r} is taken") from None
    return ArticlePublic.model_validate(posts.public(doc, caller.user_id))


@router.get("/articles/{slug}", response_model=ArticlePublic, responses=problems(401, 404, 422))
async def get_article(slug: SlugPath, app: AppDep, caller: CallerDep) -> ArticlePublic:
    return ArticlePublic.model_validate(posts.public(await posts.article_by_slug(app.documents, slug), caller.user_id))


@router.patch("/articles/{slug}", response_model=ArticlePublic, responses=problems(401, 403, 404, 422))
async def edit_article(slug: SlugPath, body: ArticleUpdate, app: AppDep, caller: CallerDep) -> ArticlePublic:
    current = await posts.article_by_slug(app.documents, slug)
    doc = await posts.edit(app.documents, ARTICLES, current["id"], caller.user_id, body.known(), body.extra_fields())
    return ArticlePublic.model_validate(posts.public(doc, caller.user_id))
