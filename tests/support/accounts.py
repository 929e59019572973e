"""Signing users up and in through the API, for tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

from polysocial.bootstrap import App
from polysocial.domain.accounts import UserRole

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class SignedUser:
    user_id: int
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def registration(email: str | None = None, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": email or f"user-{uuid.uuid4().hex[:10]}@example.com",
        "password": PASSWORD,
        "name": "Ada Lovelace",
        "birthdate": "1990-12-10",
    }
    body.update(fields)
    return body


async def sign_up(client: httpx.AsyncClient, email: str | None = None, **fields: object) -> SignedUser:
    body = registration(email, **fields)
    created = await client.post("/auth/register", json=body)
    assert created.status_code == 201, created.text
    login = await client.post("/auth/login", json={"email": body["email"], "password": PASSWORD})
    assert login.status_code == 200, login.text
    return SignedUser(created.json()["user_id"], str(body["email"]), login.json()["access_token"])


async def sign_up_admin(client: httpx.AsyncClient, app: App) -> SignedUser:
    """An administrator: signed up through the API, promoted in the store (the API cannot), signed in again (the
    role is read at login)."""
    user = await sign_up(client)
    async with app.stores.relational.transaction() as tx:
        await tx.accounts.set_role(user.user_id, UserRole.ADMIN)
    login = await client.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    return SignedUser(user.user_id, user.email, login.json()["access_token"])
