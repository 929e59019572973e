"""Sign-up, login, logout."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, Response, status

from polysocial import failpoints
from polysocial.api.deps import AppDep, BearerDep, CallerDep, client_address
from polysocial.api.responses import problems
from polysocial.api.schemas import LoginRequest, MePublic, RegisterRequest, TokenResponse
from polysocial.domain.errors import NotFound
from polysocial.services import accounts
from polysocial.services.sessions import close_session

router = APIRouter(prefix="/auth", tags=["accounts"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=MePublic,
    responses=problems(409, 422),
    summary="Create an account (the user and the profile, in one transaction)",
)
async def register(body: RegisterRequest, app: AppDep, response: Response) -> MePublic:
    registration = accounts.Registration(
        email=body.email,
        password=body.password,
        name=body.name,
        birthdate=body.birthdate,
        bio=body.bio,
        avatar_url=str(body.avatar_url) if body.avatar_url else None,
    )
    account = await accounts.prepare_account(app.passwords, registration, today=date.today())
    async with app.relational.transaction() as tx:
        user_id = await accounts.register(tx, account)
        me = await tx.me(user_id)
    failpoints.failpoint(failpoints.SIGNUP_AFTER_COMMIT)
    if me is None:
        raise NotFound(f"user {user_id} vanished after sign-up")
    response.headers["Location"] = f"/users/{user_id}"
    return MePublic.of(me)


@router.post(
    "/login",
    response_model=TokenResponse,
    responses=problems(401, 422, 429),
    summary="Exchange an email and a password for a session token",
)
async def login(body: LoginRequest, request: Request, app: AppDep, credentials: BearerDep) -> TokenResponse:
    token = await accounts.login(
        app.relational,
        app.kv,
        app.passwords,
        app.session_policy,
        email=body.email,
        password=body.password,
        ip=client_address(request),
        previous_token=credentials.credentials if credentials else None,
        session_backup=app.session_backup,
    )
    return TokenResponse(access_token=token, expires_in=app.session_policy.idle_s)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401),
    summary="End the current session",
)
async def logout(app: AppDep, caller: CallerDep) -> Response:
    await close_session(app.kv, caller.token, backup=app.session_backup)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
