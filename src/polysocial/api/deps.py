"""Request dependencies, reached through ``Annotated``: the services built once in the composition root, and the
caller's session. A route takes the one service it calls; it never sees a store."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from polysocial.bootstrap import Services
from polysocial.config import Settings
from polysocial.domain.accounts import Session, UserRole
from polysocial.domain.errors import Forbidden, Unauthorized
from polysocial.services.accounts import Accounts
from polysocial.services.carts import Carts
from polysocial.services.erasure import Erasure
from polysocial.services.feed import Feeds
from polysocial.services.insights import Analytics
from polysocial.services.operations import Operations
from polysocial.services.posts import Posts
from polysocial.services.seats import Seats
from polysocial.services.shop import Shop
from polysocial.services.social import Social
from polysocial.services.wallet import Wallet
from polysocial.stores.replicas import CURRENT_USER

T = TypeVar("T")

bearer = HTTPBearer(auto_error=False, description="a session token from POST /auth/login")


# Every dependency is ``async def``, even where it awaits nothing: FastAPI runs a plain ``def`` dependency in a
# thread pool, and that hop (two thread switches and a lock per dependency per request) was a fifth of a feed
# request's CPU in the profile.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.polysocial.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def service(pick: Callable[[Services], T]) -> Callable[[Request], Coroutine[Any, Any, T]]:
    """A dependency that hands a route one service of the App's (``pick``), and nothing else of it."""

    async def dependency(request: Request) -> T:
        return pick(request.app.state.polysocial.services)

    return dependency


AccountsDep = Annotated[Accounts, Depends(service(lambda s: s.accounts))]
PostsDep = Annotated[Posts, Depends(service(lambda s: s.posts))]
SocialDep = Annotated[Social, Depends(service(lambda s: s.social))]
FeedsDep = Annotated[Feeds, Depends(service(lambda s: s.feeds))]
WalletDep = Annotated[Wallet, Depends(service(lambda s: s.wallet))]
ShopDep = Annotated[Shop, Depends(service(lambda s: s.shop))]
CartsDep = Annotated[Carts, Depends(service(lambda s: s.carts))]
SeatsDep = Annotated[Seats, Depends(service(lambda s: s.seats))]
AnalyticsDep = Annotated[Analytics, Depends(service(lambda s: s.analytics))]
OperationsDep = Annotated[Operations, Depends(service(lambda s: s.operations))]
ErasureDep = Annotated[Erasure, Depends(service(lambda s: s.erasure))]


@dataclass(frozen=True, slots=True)
class Caller:
    session: Session
    token: str = field(repr=False)  # a live credential: never in a repr, a log line or a traceback

    @property
    def user_id(self) -> int:
        return self.session.user_id


class SessionBearer(HTTPBearer):
    """The caller of a request, from its bearer token: FastAPI's bearer scheme (OpenAPI shows it as before, under
    the same name) that resolves the session itself. One dependency where there were three (the scheme, the
    services, the session): FastAPI solves each dependency of each request in Python, and with three here that was
    a sixth of a feed request's CPU in the profile."""

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]  # the caller, not the header
        credentials = await super().__call__(request)
        if credentials is None:
            raise Unauthorized("sign in first: send Authorization: Bearer <token from POST /auth/login>")
        caller = await caller_of(request, credentials.credentials)
        if caller is None:
            raise Unauthorized("the session is unknown, has ended, or was signed out")
        return caller


async def caller_of(request: Request, token: str) -> Caller | None:
    """The caller whose session ``token`` is, made known to the request; None when no live session has it."""
    services: Services = request.app.state.polysocial.services
    session = await services.sessions.resolve(token)
    if session is None:
        return None
    request.state.user_id = session.user_id  # for the request log, and read-your-writes (api/metrics.py)
    CURRENT_USER.set(session.user_id)  # reads that a replica may answer: not when this user wrote lately
    return Caller(session, token)


get_caller = SessionBearer(auto_error=False, scheme_name="HTTPBearer", description=bearer.model.description)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_admin(caller: CallerDep) -> Caller:
    if caller.session.role is not UserRole.ADMIN:
        raise Forbidden("administrators only")
    return caller


AdminDep = Annotated[Caller, Depends(get_admin)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
