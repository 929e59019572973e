"""Request dependencies: the App built in the lifespan, and the caller's session, reached through ``Annotated``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from polysocial.bootstrap import App
from polysocial.domain.accounts import Session, UserRole
from polysocial.domain.errors import Forbidden, Unauthorized
from polysocial.services.sessions import resolve_session

bearer = HTTPBearer(auto_error=False, description="a session token from POST /auth/login")


def get_app(request: Request) -> App:
    app: App = request.app.state.polysocial
    return app


AppDep = Annotated[App, Depends(get_app)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True, slots=True)
class Caller:
    session: Session
    token: str

    @property
    def user_id(self) -> int:
        return self.session.user_id


async def get_caller(app: AppDep, credentials: BearerDep) -> Caller:
    if credentials is None:
        raise Unauthorized("sign in first: send Authorization: Bearer <token from POST /auth/login>")
    session = await resolve_session(app.kv, app.session_policy, credentials.credentials, backup=app.session_backup)
    if session is None:
        raise Unauthorized("the session is unknown, has ended, or was signed out")
    return Caller(session, credentials.credentials)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_admin(caller: CallerDep) -> Caller:
    if caller.session.role is not UserRole.ADMIN:
        raise Forbidden("administrators only")
    return caller


AdminDep = Annotated[Caller, Depends(get_admin)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
