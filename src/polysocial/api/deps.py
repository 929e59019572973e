"""Request dependencies, reached through ``Annotated``: the services built once in the composition root, and the
caller's session. A route takes the one service it calls; it never sees a store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from polysocial.bootstrap import App, Services
from polysocial.config import Settings
from polysocial.domain.accounts import Session, UserRole
from polysocial.domain.errors import Forbidden, Unauthorized
from polysocial.services.accounts import Accounts
from polysocial.services.carts import Carts
from polysocial.services.feed import Feeds
from polysocial.services.insights import Analytics
from polysocial.services.operations import Operations
from polysocial.services.posts import Posts
from polysocial.services.seats import Seats
from polysocial.services.shop import Shop
from polysocial.services.social import Social
from polysocial.services.wallet import Wallet

bearer = HTTPBearer(auto_error=False, description="a session token from POST /auth/login")


def get_app(request: Request) -> App:
    app: App = request.app.state.polysocial
    return app


def get_services(request: Request) -> Services:
    return get_app(request).services


def get_settings(request: Request) -> Settings:
    return get_app(request).settings


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _accounts(services: ServicesDep) -> Accounts:
    return services.accounts


def _posts(services: ServicesDep) -> Posts:
    return services.posts


def _social(services: ServicesDep) -> Social:
    return services.social


def _feeds(services: ServicesDep) -> Feeds:
    return services.feeds


def _wallet(services: ServicesDep) -> Wallet:
    return services.wallet


def _shop(services: ServicesDep) -> Shop:
    return services.shop


def _carts(services: ServicesDep) -> Carts:
    return services.carts


def _seats(services: ServicesDep) -> Seats:
    return services.seats


def _analytics(services: ServicesDep) -> Analytics:
    return services.analytics


def _operations(services: ServicesDep) -> Operations:
    return services.operations


AccountsDep = Annotated[Accounts, Depends(_accounts)]
PostsDep = Annotated[Posts, Depends(_posts)]
SocialDep = Annotated[Social, Depends(_social)]
FeedsDep = Annotated[Feeds, Depends(_feeds)]
WalletDep = Annotated[Wallet, Depends(_wallet)]
ShopDep = Annotated[Shop, Depends(_shop)]
CartsDep = Annotated[Carts, Depends(_carts)]
SeatsDep = Annotated[Seats, Depends(_seats)]
AnalyticsDep = Annotated[Analytics, Depends(_analytics)]
OperationsDep = Annotated[Operations, Depends(_operations)]


@dataclass(frozen=True, slots=True)
class Caller:
    session: Session
    token: str

    @property
    def user_id(self) -> int:
        return self.session.user_id


async def get_caller(services: ServicesDep, credentials: BearerDep) -> Caller:
    if credentials is None:
        raise Unauthorized("sign in first: send Authorization: Bearer <token from POST /auth/login>")
    session = await services.sessions.resolve(credentials.credentials)
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
