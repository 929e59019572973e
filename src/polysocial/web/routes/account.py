"""The landing page, sign-up, sign-in and sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from polysocial.api.deps import client_address
from polysocial.api.schemas.accounts import LoginRequest, RegisterRequest
from polysocial.domain.errors import DomainError
from polysocial.services.accounts import Registration
from polysocial.web import security
from polysocial.web.pages import (
    MaybeViewerDep,
    PageRoute,
    ViewerDep,
    explain,
    local_path,
    redirect,
    render,
    services_of,
    settings_of,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NextPath = Annotated[str | None, Query(max_length=500)]
FormText = Annotated[str, Form(max_length=2000)]


@router.get("/")
async def landing(request: Request, viewer: MaybeViewerDep) -> Response:
    if viewer is not None:
        return redirect(request, "/web/home")
    return render(request, "landing.html")


@router.get("/web/signup")
async def signup_page(request: Request, viewer: MaybeViewerDep) -> Response:
    return render(request, "signup.html", form={})


@router.post("/web/signup")
async def signup(
    request: Request,
    email: FormText,
    password: FormText,
    name: FormText,
    birthdate: FormText,
    bio: FormText = "",
) -> Response:
    services = services_of(request)
    try:
        body = RegisterRequest.model_validate(
            {"email": email, "password": password, "name": name, "birthdate": birthdate, "bio": bio}
        )
        me = await services.accounts.register(
            Registration(
                email=body.email, password=body.password, name=body.name, birthdate=body.birthdate, bio=body.bio
            )
        )
    except (DomainError, ValidationError) as exc:  # the form again, as it was filled (but the password)
        status, message = explain(exc)
        form = {"email": email, "name": name, "birthdate": birthdate, "bio": bio}
        return render(request, "signup.html", status, form=form, error=message)
    token = (await services.accounts.login(body.email, body.password, ip=client_address(request))).token
    response = redirect(request, "/web/home", notice=f"Welcome, {me.profile.name}! Your account is ready.")
    _signed_in(request, response, token)
    return response


@router.get("/web/signin")
async def signin_page(request: Request, viewer: MaybeViewerDep, next: NextPath = None) -> Response:
    return render(request, "signin.html", next_path=local_path(next))


@router.post("/web/signin")
async def signin(
    request: Request, viewer: MaybeViewerDep, email: FormText, password: FormText, next: FormText = "/web/home"
) -> Response:
    body = LoginRequest.model_validate({"email": email, "password": password})
    signed_in = await services_of(request).accounts.login(
        body.email,
        body.password,
        ip=client_address(request),
        previous_token=viewer.token if viewer else None,  # a sign-in always rotates the session
    )
    response = redirect(request, local_path(next))
    _signed_in(request, response, signed_in.token)
    return response


@router.post("/web/signout")
async def signout(request: Request, viewer: ViewerDep) -> Response:
    await services_of(request).accounts.logout(viewer.token)
    response = redirect(request, "/", notice="You are signed out.")
    security.clear_session_cookie(request, response)
    return response


def _signed_in(request: Request, response: Response, token: str) -> None:
    lifetime = settings_of(request).session_absolute_s  # the store ends it sooner when idle: same rules as a bearer
    security.set_session_cookie(request, response, token, max_age_s=lifetime)
