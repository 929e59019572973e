"""The home timeline, posts and comments, profiles and follows, discovery and articles."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import Response

from polysocial.api.routes.posts import SlugPath
from polysocial.api.schemas.posts import CommentCreate, PostCreate, PostUpdate
from polysocial.domain.errors import NotFound
from polysocial.domain.ids import PATTERN as ID_PATTERN
from polysocial.web.pages import (
    PageRoute,
    ViewerDep,
    back,
    is_fragment_request,
    redirect,
    render,
    services_of,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False, prefix="/web")

PAGE = 20
PostId = Annotated[str, Path(pattern=ID_PATTERN.pattern)]
UserId = Annotated[int, Path(ge=1, le=2**53)]
Before = Annotated[str | None, Query(pattern=ID_PATTERN.pattern)]
After = Annotated[int, Query(ge=0, le=2**53)]
Text = Annotated[str, Form(max_length=10_000)]
MEDIA_KINDS = {
    "image": (".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg"),
    "video": (".mp4", ".webm", ".mov"),
    "audio": (".mp3", ".ogg", ".wav", ".m4a"),
}


def media_of(urls: str) -> list[dict[str, str]]:
    """One media item per non-blank line; the kind from the file's extension ("link" otherwise)."""
    found = []
    for line in urls.splitlines():
        url = line.strip()
        if url:
            path = url.split("?", 1)[0].lower()
            kind = next((k for k, endings in MEDIA_KINDS.items() if path.endswith(endings)), "link")
            found.append({"url": url, "kind": kind})
    return found


# -- the home timeline ------------------------------------------------------------------------------------------


@router.get("/home")
async def home(request: Request, viewer: ViewerDep, before: Before = None) -> Response:
    page = await services_of(request).feeds.home(viewer.user_id, before=before, limit=PAGE)
    if is_fragment_request(request) and before is not None:  # "load more": the next items and the next button
        return render(request, "_feed_items.html", items=page.items, next_before=page.next_before)
    return render(
        request, "home.html", items=page.items, next_before=page.next_before, degraded=page.degraded, before=before
    )


@router.post("/posts")
async def compose(request: Request, viewer: ViewerDep, text: Text, media: Text = "") -> Response:
    body = PostCreate.model_validate({"text": text, "media": media_of(media)})
    services = services_of(request)
    doc = await services.posts.create(viewer.user_id, body.known(), {})
    if is_fragment_request(request):  # a fresh compose box, and the new post on top of the timeline
        me = await services.accounts.profile(viewer.user_id)
        item = {**doc, "author": {"user_id": me.user_id, "name": me.name}, "user_has_liked": False}
        return render(request, "_composed.html", item=item)
    return redirect(request, "/web/home", notice="Posted. Your followers see it in their timelines in a moment.")


@router.post("/posts/{post_id}/like")
async def like(request: Request, viewer: ViewerDep, post_id: PostId) -> Response:
    likes = await services_of(request).posts.like(post_id, viewer.user_id)
    return _like_state(request, post_id, liked=True, likes=likes)


@router.post("/posts/{post_id}/unlike")
async def unlike(request: Request, viewer: ViewerDep, post_id: PostId) -> Response:
    likes = await services_of(request).posts.unlike(post_id, viewer.user_id)
    return _like_state(request, post_id, liked=False, likes=likes)


def _like_state(request: Request, post_id: str, *, liked: bool, likes: int) -> Response:
    if is_fragment_request(request):
        return render(request, "_like.html", post_id=post_id, liked=liked, likes=likes)
    return redirect(request, back(request, f"/web/posts/{post_id}"))


# -- a post -----------------------------------------------------------------------------------------------------


@router.get("/posts/{post_id}")
async def post_page(request: Request, viewer: ViewerDep, post_id: PostId, before: Before = None) -> Response:
    services = services_of(request)
    post, comments = await asyncio.gather(
        services.posts.get(post_id, viewer.user_id), services.posts.comments(post_id, before=before, limit=PAGE)
    )
    if before is None:
        # The comments collection is written by the relay a moment after a comment is added; the post itself holds
        # its latest comments at once: the first page merges both, so a new comment shows on the next page load.
        merged = {c["id"]: c for c in [*comments, *post.get("latest_comments", [])]}
        comments = sorted(merged.values(), key=lambda c: c["id"], reverse=True)[:PAGE]
    names = await services.social.names([post["author_id"], *(c["author_id"] for c in comments)])
    return render(
        request,
        "post.html",
        post=post,
        comments=comments,
        names=names,
        next_before=comments[-1]["id"] if len(comments) == PAGE else None,
    )


@router.post("/posts/{post_id}/comments")
async def comment(request: Request, viewer: ViewerDep, post_id: PostId, text: Text) -> Response:
    body = CommentCreate.model_validate({"text": text})
    await services_of(request).posts.add_comment(post_id, viewer.user_id, body.text)
    return redirect(request, f"/web/posts/{post_id}#comments", notice="Comment added.")


@router.post("/posts/{post_id}/edit")
async def edit(request: Request, viewer: ViewerDep, post_id: PostId, text: Text) -> Response:
    body = PostUpdate.model_validate({"text": text})
    await services_of(request).posts.edit(post_id, viewer.user_id, body.known(), {})
    return redirect(request, f"/web/posts/{post_id}", notice="Post updated.")


@router.post("/posts/{post_id}/delete")
async def delete(request: Request, viewer: ViewerDep, post_id: PostId) -> Response:
    await services_of(request).posts.delete(post_id, viewer.user_id)
    return redirect(request, f"/web/users/{viewer.user_id}", notice="Post deleted.")


# -- a profile --------------------------------------------------------------------------------------------------


@router.get("/users/{user_id}")
async def profile(request: Request, viewer: ViewerDep, user_id: UserId, before: Before = None) -> Response:
    services = services_of(request)
    me = viewer.user_id
    found = await services.accounts.profile(user_id)  # 404 for a user that does not exist, before the rest
    counts, relationship, posts = await asyncio.gather(
        services.social.counts(user_id),
        services.social.relationship(me, user_id),
        services.posts.by_author(user_id, me, before=before, limit=PAGE),
    )
    mutuals: Any = None
    separation: int | None = 0
    if user_id != me:
        mutuals, separation = await asyncio.gather(
            services.social.mutuals(me, user_id, after=0, limit=PAGE), services.social.separation(me, user_id)
        )
    return render(
        request,
        "profile.html",
        profile=found,
        followers=counts[0],
        following=counts[1],
        i_follow=relationship[0],
        follows_me=relationship[1],
        posts=posts,
        next_before=posts[-1]["id"] if len(posts) == PAGE else None,
        mutuals=mutuals,
        separation=separation,
        is_me=user_id == me,
    )


@router.get("/users/{user_id}/{which}")
async def people(
    request: Request,
    viewer: ViewerDep,
    user_id: UserId,
    which: Annotated[Literal["followers", "following"], Path()],
    after: After = 0,
) -> Response:
    services = services_of(request)
    found = await services.accounts.profile(user_id)
    listing = services.social.followers if which == "followers" else services.social.following
    page = await listing(user_id, after=after, limit=PAGE)
    return render(request, "people.html", profile=found, which=which, page=page)


@router.post("/users/{user_id}/follow")
async def follow(request: Request, viewer: ViewerDep, user_id: UserId) -> Response:
    await services_of(request).social.follow(viewer.user_id, user_id)
    return redirect(
        request, back(request, f"/web/users/{user_id}"), notice="Following. Their posts reach your timeline."
    )


@router.post("/users/{user_id}/unfollow")
async def unfollow(request: Request, viewer: ViewerDep, user_id: UserId) -> Response:
    await services_of(request).social.unfollow(viewer.user_id, user_id)
    return redirect(request, back(request, f"/web/users/{user_id}"), notice="Unfollowed.")


# -- discovery --------------------------------------------------------------------------------------------------


@router.get("/discover")
async def discover(request: Request, viewer: ViewerDep) -> Response:
    services = services_of(request)
    suggestions, nearby, trending = await asyncio.gather(
        services.social.suggestions(viewer.user_id, limit=10),
        services.social.nearby(viewer.user_id, hops=3, limit=20),
        services.analytics.trending(hours=24, limit=10),
    )
    posts = await asyncio.gather(*(_stored_or_none(services, t.post_id) for t in trending))
    hot = [(post, t.views) for post, t in zip(posts, trending, strict=True) if post is not None]
    names = await services.social.names([post["author_id"] for post, _ in hot])
    return render(request, "discover.html", suggestions=suggestions, nearby=nearby, trending=hot, names=names)


async def _stored_or_none(services: Any, post_id: str) -> dict[str, Any] | None:
    """The post without counting a view: listing what is trending must not feed its own ranking."""
    try:
        stored: dict[str, Any] = await services.posts.get_raw(post_id)
    except NotFound:  # deleted since it was viewed
        return None
    return stored


@router.get("/articles")
async def find_article(request: Request, viewer: ViewerDep, slug: Annotated[str, Query(max_length=200)]) -> Response:
    wanted = slug.strip().lower()
    return redirect(request, f"/web/articles/{wanted}" if wanted else "/web/discover")


@router.get("/articles/{slug}")
async def article(request: Request, viewer: ViewerDep, slug: SlugPath) -> Response:
    services = services_of(request)
    found = await services.posts.article(slug, viewer.user_id)
    names = await services.social.names([found["author_id"]])
    return render(request, "article.html", article=found, names=names)
