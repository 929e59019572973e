"""Sign-up, login, logout."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from polysocial.api.deps import AccountsDep, BearerDep, CallerDep, SettingsDep, client_address
from polysocial.api.responses import problems
from polysocial.api.schemas.accounts import LoginRequest, MePublic, RegisterRequest, TokenResponse
from polysocial.services.accounts import Registration

router = APIRouter(prefix="/auth", tags=["accounts"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=MePublic,
    responses=problems(409, 422),
    summary="Create an account (the user and the profile, in one transaction)",
)
async def register(body: RegisterRequest, accounts: AccountsDep, response: Response) -> MePublic:
    registration = Registration(
        email=body.email,
        password=body.password,
        name=body.name,
        birthdate=body.birthdate,
        bio=body.bio,
        avatar_url=str(body.avatar_url) if body.avatar_url else None,
    )
    me = await accounts.register(registration)
    response.headers["Location"] = f"/users/{me.user_id}"
    return MePublic.of(me)


RATE_HEADERS = {
    name: {"description": what, "schema": {"type": "integer"}}
    for name, what in (
        ("RateLimit-Limit", "failed sign-ins allowed in the limit's window (the limit closest to refusing)"),
        ("RateLimit-Remaining", "failed sign-ins left before 429"),
        ("RateLimit-Reset", "seconds until the allowance is whole again"),
    )
}


@router.post(
    "/login",
    response_model=TokenResponse,
    responses={
        200: {"description": "A new session", "headers": RATE_HEADERS},
        **problems(422),
        **{status: {**entry, "headers": RATE_HEADERS} for status, entry in problems(401, 429).items()},
    },
    summary="Exchange an email and a password for a session token",
    # A token is optional here (a signed-in client's old session ends with the new one): say so, rather than the
    # bearer scheme's "required" that its dependency implies.
    openapi_extra={"security": [{}, {"HTTPBearer": []}]},
)
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    accounts: AccountsDep,
    settings: SettingsDep,
    credentials: BearerDep,
) -> TokenResponse:
    signed_in = await accounts.login(
        body.email,
        body.password,
        ip=client_address(request),
        previous_token=credentials.credentials if credentials else None,
    )
    response.headers.update(signed_in.rate.headers())
    return TokenResponse(access_token=signed_in.token, expires_in=settings.session_idle_s)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401),
    summary="End the current session",
)
async def logout(accounts: AccountsDep, caller: CallerDep) -> Response:
    await accounts.logout(caller.token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401),
    summary="End every session of the caller, on every device (this one included)",
)
async def logout_all(accounts: AccountsDep, caller: CallerDep) -> Response:
    await accounts.logout_everywhere(caller.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
