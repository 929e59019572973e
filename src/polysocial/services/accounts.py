"""Accounts: sign-up, login, logout, profile changes, roles.

Each method is one use case and owns its transaction. Login spans the key-value role (limits, sessions), CPU work
(argon2) and PostgreSQL; it holds no transaction while it hashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from polysocial import failpoints
from polysocial.domain.accounts import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    Credentials,
    InvalidCredentials,
    Me,
    NewAccount,
    Profile,
    TooYoung,
    UserRole,
    is_adult,
    normalise_email,
)
from polysocial.domain.errors import DomainError, Forbidden, NotFound
from polysocial.domain.events import profile_updated, user_registered
from polysocial.domain.limits import RateStatus
from polysocial.domain.text import strip_blank
from polysocial.services import ratelimit
from polysocial.services.passwords import Passwords
from polysocial.services.profiles import get_profile, invalidate_profile
from polysocial.services.sessions import Sessions
from polysocial.stores.keyvalue.protocol import KeyValueStore
from polysocial.stores.relational.protocol import RelationalStore


@dataclass(frozen=True, slots=True)
class Registration:
    email: str
    password: str = field(repr=False)
    name: str
    birthdate: date
    bio: str = ""
    avatar_url: str | None = None


@dataclass(frozen=True, slots=True)
class Authenticated:
    credentials: Credentials
    rate: RateStatus  # the failed-login limit the caller is closest to (nothing counted for a success)


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    rate: RateStatus


class WeakPassword(DomainError):
    status = 422
    title = "Password not accepted"
    type_slug = "weak-password"


async def prepare_account(passwords: Passwords, registration: Registration, *, today: date) -> NewAccount:
    """Check what the database cannot say kindly, and hash the password (in the hashing pool)."""
    if not is_adult(registration.birthdate, today):
        raise TooYoung("users must be 18 or older")
    if not MIN_PASSWORD <= len(registration.password) <= MAX_PASSWORD:
        raise WeakPassword(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return NewAccount(
        email=normalise_email(registration.email),
        password_hash=await passwords.hash(registration.password),
        name=strip_blank(registration.name),
        birthdate=registration.birthdate,
        bio=registration.bio,
        avatar_url=registration.avatar_url,
    )


def _account_key(email: str) -> str:
    return f"login:account:{email}"


def _ip_key(ip: str) -> str:
    return f"login:ip:{ip}"


class Accounts:
    """Sign-up, sign-in and sign-out, my account, public profiles (cache-aside) and changes to my own."""

    def __init__(self, relational: RelationalStore, keyvalue: KeyValueStore, passwords: Passwords, sessions: Sessions):
        self.relational = relational
        self.keyvalue = keyvalue
        self.passwords = passwords
        self.sessions = sessions

    async def register(self, registration: Registration, *, today: date | None = None) -> Me:
        """The user, the profile and the UserRegistered event, in one transaction (argon2 runs before it)."""
        account = await prepare_account(self.passwords, registration, today=today or date.today())
        async with self.relational.transaction() as tx:
            user_id = await tx.accounts.insert_account(account)
            failpoints.failpoint(failpoints.SIGNUP_AFTER_BUSINESS_WRITE)
            await tx.outbox.add([user_registered(user_id, account.name)])
            failpoints.failpoint(failpoints.SIGNUP_AFTER_OUTBOX_WRITE)
            me = await tx.accounts.me(user_id)
        failpoints.failpoint(failpoints.SIGNUP_AFTER_COMMIT)
        if me is None:
            raise NotFound(f"user {user_id} vanished after sign-up")
        return me

    async def authenticate(self, email: str, password: str, ip: str) -> Authenticated:
        """Credentials for a correct email and password. An unknown email and a wrong password fail alike, after
        the same work; failures count against the account and the client address, and past either limit: 429."""
        email = normalise_email(email)
        limits = [
            (_account_key(email), ratelimit.LOGIN_FAILURES_PER_ACCOUNT),
            (_ip_key(ip), ratelimit.LOGIN_FAILURES_PER_IP),
        ]
        standing = [await ratelimit.check(self.keyvalue, key, rule, what="failed logins") for key, rule in limits]
        async with self.relational.reading() as tx:
            credentials = await tx.accounts.credentials_by_email(email)
        stored_hash = credentials.password_hash if credentials else None
        # Verify even when the email is unknown (against a dummy hash): both failures must cost the same.
        matched = await self.passwords.verify(stored_hash, password[: MAX_PASSWORD * 4])
        if credentials is None or not matched:
            counted = [await ratelimit.count(self.keyvalue, key, rule) for key, rule in limits]
            raise InvalidCredentials(RateStatus.tightest(counted).headers())
        if self.passwords.needs_rehash(credentials.password_hash):
            new_hash = await self.passwords.hash(password)
            async with self.relational.transaction() as tx:
                await tx.accounts.update_password_hash(credentials.user_id, new_hash)
        return Authenticated(credentials, RateStatus.tightest(standing))

    async def login(self, email: str, password: str, *, ip: str, previous_token: str | None = None) -> SignedIn:
        """A new session token (and where the caller stands against the failed-login limits). A token the client
        already held is revoked: a login always rotates the session."""
        found = await self.authenticate(email, password, ip)
        if previous_token:
            await self.sessions.close(previous_token)
        token = await self.sessions.open(found.credentials.user_id, found.credentials.role)
        return SignedIn(token, found.rate)

    async def logout(self, token: str) -> None:
        await self.sessions.close(token)

    async def logout_everywhere(self, user_id: int) -> None:
        await self.sessions.close_all(user_id)

    async def me(self, user_id: int) -> Me:
        async with self.relational.reading() as tx:
            found = await tx.accounts.me(user_id)
        if found is None:
            raise NotFound("this account no longer exists")
        return found

    async def profile(self, user_id: int) -> Profile:
        found = await get_profile(self.relational, self.keyvalue, user_id)
        if found is None:
            raise NotFound(f"user {user_id} does not exist")
        return found

    async def update_profile(self, caller: int, user_id: int, fields: dict[str, Any]) -> Profile:
        """Change the caller's own profile (403 for anyone else's, existing or not: no probing of ids)."""
        if user_id != caller:
            raise Forbidden("you can change only your own profile")
        if "birthdate" in fields and not is_adult(fields["birthdate"], date.today()):
            raise TooYoung("users must be 18 or older")
        async with self.relational.transaction() as tx:
            if not await tx.accounts.update_profile(user_id, fields):
                raise NotFound(f"user {user_id} does not exist")
            if fields:
                published = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in fields.items()}
                await tx.outbox.add([profile_updated(user_id, published)])
                tx.after_commit(lambda: invalidate_profile(self.keyvalue, user_id))
            updated = await tx.accounts.profile(user_id)
        if updated is None:
            raise NotFound(f"user {user_id} does not exist")
        return updated

    async def make_admin(self, email: str) -> int:
        async with self.relational.transaction() as tx:
            user_id = await tx.accounts.user_id_by_email(normalise_email(email))
            if user_id is None:
                raise NotFound(f"no account for {normalise_email(email)}")
            await tx.accounts.set_role(user_id, UserRole.ADMIN)
        return user_id
