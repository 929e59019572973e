"""Accounts in an open transaction: users and profiles, credentials, roles."""

from __future__ import annotations

from typing import Any

from psycopg import errors, sql

from polysocial.domain.accounts import Credentials, EmailTaken, Me, NewAccount, Profile, TooYoung, UserRole
from polysocial.stores.relational.txpart import TxPart

PROFILE_FIELDS = ("name", "bio", "avatar_url", "birthdate")

PROFILE_QUERY = """
SELECT u.user_id, p.name, p.bio, p.avatar_url, p.birthdate, u.created_at,
       (SELECT count(*) FROM orders o WHERE o.user_id = u.user_id) AS order_count
FROM users u JOIN user_profiles p ON p.user_id = u.user_id
WHERE u.user_id = %s
"""


def _profile(row: dict[str, Any]) -> Profile:
    return Profile(
        user_id=row["user_id"],
        name=row["name"],
        bio=row["bio"],
        avatar_url=row["avatar_url"],
        birthdate=row["birthdate"],
        created_at=row["created_at"],
        order_count=int(row["order_count"]),
    )


class PostgresAccounts(TxPart):
    async def insert_account(self, account: NewAccount) -> int:
        try:
            async with self.conn.transaction():  # a savepoint: a refused row leaves the caller's transaction usable
                row = await self._one(
                    "INSERT INTO users (email, password_hash) VALUES (%s, %s) RETURNING user_id",
                    (account.email, account.password_hash),
                )
                assert row is not None
                await self.conn.execute(
                    "INSERT INTO user_profiles (user_id, name, bio, avatar_url, birthdate) VALUES (%s, %s, %s, %s, %s)",
                    (row["user_id"], account.name, account.bio, account.avatar_url, account.birthdate),
                )
        except errors.UniqueViolation as exc:
            raise EmailTaken("an account with this email already exists") from exc
        except errors.CheckViolation as exc:
            if exc.diag.constraint_name == "user_profiles_birthdate_check":
                raise TooYoung("users must be 18 or older") from exc
            raise
        return int(row["user_id"])

    async def credentials_by_email(self, email: str) -> Credentials | None:
        row = await self._one("SELECT user_id, password_hash, role FROM users WHERE lower(email) = %s", (email,))
        return Credentials(row["user_id"], row["password_hash"], UserRole(row["role"])) if row else None

    async def update_password_hash(self, user_id: int, password_hash: str) -> None:
        await self.conn.execute("UPDATE users SET password_hash = %s WHERE user_id = %s", (password_hash, user_id))

    async def set_role(self, user_id: int, role: UserRole) -> bool:
        cur = await self.conn.execute("UPDATE users SET role = %s WHERE user_id = %s", (role.value, user_id))
        return cur.rowcount == 1

    async def user_id_by_email(self, email: str) -> int | None:
        row = await self._one("SELECT user_id FROM users WHERE lower(email) = %s", (email,))
        return int(row["user_id"]) if row else None

    async def profile(self, user_id: int) -> Profile | None:
        row = await self._one(PROFILE_QUERY, (user_id,))
        return _profile(row) if row else None

    async def me(self, user_id: int) -> Me | None:
        row = await self._one("SELECT email, role FROM users WHERE user_id = %s", (user_id,))
        profile = await self.profile(user_id)
        if row is None or profile is None:
            return None
        return Me(user_id, row["email"], UserRole(row["role"]), profile)

    async def update_profile(self, user_id: int, fields: dict[str, Any]) -> bool:
        unknown = set(fields) - set(PROFILE_FIELDS)
        if unknown:
            raise ValueError(f"not profile fields: {sorted(unknown)}")
        if not fields:
            row = await self._one("SELECT 1 AS found FROM user_profiles WHERE user_id = %s", (user_id,))
            return row is not None
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in fields
        )
        query = sql.SQL("UPDATE user_profiles SET {}, updated_at = now() WHERE user_id = {}").format(
            assignments, sql.Placeholder("user_id")
        )
        try:
            async with self.conn.transaction():
                cur = await self.conn.execute(query, {**fields, "user_id": user_id})
        except errors.CheckViolation as exc:
            if exc.diag.constraint_name == "user_profiles_birthdate_check":
                raise TooYoung("users must be 18 or older") from exc
            raise
        return cur.rowcount == 1
