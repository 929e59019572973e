"""Accounts: sign-up, login, logout, profile changes, roles.

Writes that belong in one transaction take the caller's transaction (the entry point commits). Login spans the key-
value role (limits, sessions), CPU work (argon2) and PostgreSQL; it holds no transaction while it hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from polysocial import failpoints
from polysocial.domain.accounts import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    Credentials,
    InvalidCredentials,
    NewAccount,
    TooYoung,
    UserRole,
    is_adult,
    normalise_email,
)
from polysocial.domain.errors import DomainError, NotFound
from polysocial.domain.events import profile_updated, user_registered
from polysocial.services import ratelimit
from polysocial.services.passwords import Passwords
from polysocial.services.profiles import invalidate_profile
from polysocial.services.sessions import SessionPolicy, close_session, open_session
from polysocial.stores.redis.protocol import KeyValueStore
from polysocial.stores.relational.protocol import RelationalStore, RelationalTx


@dataclass(frozen=True, slots=True)
class Registration:
    email: str
    password: str
    name: str
    birthdate: date
    bio: str = ""
    avatar_url: str | None = None


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
        name=registration.name.strip(),
        birthdate=registration.birthdate,
        bio=registration.bio,
        avatar_url=registration.avatar_url,
    )


async def register(tx: RelationalTx, account: NewAccount) -> int:
    """The user, the profile and the UserRegistered event, in the caller's transaction."""
    user_id = await tx.insert_account(account)
    failpoints.failpoint(failpoints.SIGNUP_AFTER_BUSINESS_WRITE)
    await tx.add_events([user_registered(user_id, account.name)])
    failpoints.failpoint(failpoints.SIGNUP_AFTER_OUTBOX_WRITE)
    return user_id


def _account_key(email: str) -> str:
    return f"login:account:{email}"


def _ip_key(ip: str) -> str:
    return f"login:ip:{ip}"


async def authenticate(
    relational: RelationalStore, kv: KeyValueStore, passwords: Passwords, email: str, password: str, ip: str
) -> Credentials:
    """Credentials for a correct email and password. An unknown email and a wrong password fail alike, after the
    same work; failures count against the account and the client address, and past either limit: 429."""
    email = normalise_email(email)
    await ratelimit.check(kv, _account_key(email), ratelimit.LOGIN_FAILURES_PER_ACCOUNT, what="failed logins")
    await ratelimit.check(kv, _ip_key(ip), ratelimit.LOGIN_FAILURES_PER_IP, what="failed logins")
    async with relational.transaction() as tx:
        credentials = await tx.credentials_by_email(email)
    stored_hash = credentials.password_hash if credentials else None
    # Verify even when the email is unknown (against a dummy hash): both failures must cost the same.
    matched = await passwords.verify(stored_hash, password[: MAX_PASSWORD * 4])
    if credentials is None or not matched:
        await ratelimit.count(kv, _account_key(email), ratelimit.LOGIN_FAILURES_PER_ACCOUNT)
        await ratelimit.count(kv, _ip_key(ip), ratelimit.LOGIN_FAILURES_PER_IP)
        raise InvalidCredentials
    if passwords.needs_rehash(credentials.password_hash):
        new_hash = await passwords.hash(password)
        async with relational.transaction() as tx:
            await tx.update_password_hash(credentials.user_id, new_hash)
    return credentials


async def login(
    relational: RelationalStore,
    kv: KeyValueStore,
    passwords: Passwords,
    policy: SessionPolicy,
    *,
    email: str,
    password: str,
    ip: str,
    previous_token: str | None = None,
    session_backup: RelationalStore | None = None,
) -> str:
    """A new session token. A token the client already held is revoked: a login always rotates the session."""
    credentials = await authenticate(relational, kv, passwords, email, password, ip)
    if previous_token:
        await close_session(kv, previous_token, backup=session_backup)
    return await open_session(kv, policy, credentials.user_id, credentials.role, backup=session_backup)


async def update_profile(tx: RelationalTx, kv: KeyValueStore, user_id: int, fields: dict[str, Any]) -> None:
    if "birthdate" in fields and not is_adult(fields["birthdate"], date.today()):
        raise TooYoung("users must be 18 or older")
    if not await tx.update_profile(user_id, fields):
        raise NotFound(f"user {user_id} does not exist")
    if fields:
        published = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in fields.items()}
        await tx.add_events([profile_updated(user_id, published)])

        async def invalidate() -> None:
            await invalidate_profile(kv, user_id)

        tx.after_commit(invalidate)


async def make_admin(tx: RelationalTx, email: str) -> int:
    user_id = await tx.user_id_by_email(normalise_email(email))
    if user_id is None:
        raise NotFound(f"no account for {normalise_email(email)}")
    await tx.set_role(user_id, UserRole.ADMIN)
    return user_id
