"""Accounts in an open transaction: users and profiles, credentials, roles."""

from __future__ import annotations

from typing import Any

from psycopg import errors, sql

from polysocial.domain.accounts import (
    Credentials,
    EmailTaken,
    ErasedAccount,
    Me,
    NewAccount,
    Profile,
    TooYoung,
    UserRole,
    erased_email,
)
from polysocial.domain.events import CART, FOLLOW, USER
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

    # -- erasure (services/erasure.py) --------------------------------------------------------------------------------

    async def erase(self, user_id: int, password_hash: str) -> ErasedAccount | None:
        """Anonymise the account and delete everything personal PostgreSQL holds about it, except what the law
        keeps (ledger, orders, payments, seats: they keep the anonymised id). None when there is no such user.

        The users row is locked first: a follow being recorded holds its profile row (FOR SHARE, follows_tx), so
        a follow either commits before this transaction deletes the follows, or finds no profile and is refused."""
        row = await self._one("SELECT deleted_at FROM users WHERE user_id = %s FOR UPDATE", (user_id,))
        if row is None:
            return None
        await self.conn.execute(
            "UPDATE users SET email = %s, password_hash = %s, role = 'user', deleted_at = coalesce(deleted_at, now()) "
            "WHERE user_id = %s",
            (erased_email(user_id), password_hash, user_id),
        )
        await self.conn.execute("DELETE FROM user_profiles WHERE user_id = %s", (user_id,))
        follows = await self.sweep(user_id)
        await self.conn.execute(
            "DELETE FROM idempotency_keys WHERE user_id = %s", (user_id,)
        )  # the answers kept for retries hold the account's data
        # Dead letters about the account: its own events, its carts' and follows', and documents' events it wrote.
        await self.conn.execute(
            "DELETE FROM outbox_dead_letter WHERE (aggregate_type IN (%(user)s, %(cart)s) AND aggregate_id = %(id)s) "
            "OR (aggregate_type = %(follow)s AND %(id)s IN (split_part(aggregate_id, ':', 1), "
            "    split_part(aggregate_id, ':', 2))) "
            "OR payload @> jsonb_build_object('author_id', %(uid)s::bigint) "
            "OR payload @> jsonb_build_object('comment', jsonb_build_object('author_id', %(uid)s::bigint))",
            {"user": USER, "cart": CART, "follow": FOLLOW, "id": str(user_id), "uid": user_id},
        )
        return ErasedAccount(user_id, follows, again=row["deleted_at"] is not None)

    async def sweep(self, user_id: int) -> list[tuple[int, int]]:
        """Delete the account's follows, durable cart and session copies (again: the erasure's last step runs it
        once every earlier event about the account was delivered); the follows deleted."""
        rows = await self._rows(
            "DELETE FROM follow_record WHERE follower = %(id)s OR followee = %(id)s RETURNING follower, followee",
            {"id": user_id},
        )
        await self.conn.execute("DELETE FROM cart_items WHERE user_id = %s", (user_id,))
        await self.conn.execute("DELETE FROM session_backups WHERE user_id = %s", (user_id,))
        return sorted((int(r["follower"]), int(r["followee"])) for r in rows)

    async def records(self, user_id: int) -> dict[str, list[dict[str, Any]]] | None:
        """Every row PostgreSQL holds about the account, table by table (an export), without secrets (no password
        hash, no session token hash). None when there is no such user."""
        found: dict[str, list[dict[str, Any]]] = {}
        for table, query in RECORD_QUERIES:
            found[table] = await self._rows(query, {"id": user_id})
        return found if found["users"] else None


# What an account's export reads from PostgreSQL, table by table: everything that names the user, minus secrets.
RECORD_QUERIES: tuple[tuple[str, str], ...] = (
    ("users", "SELECT user_id, email, role, balance, created_at, deleted_at FROM users WHERE user_id = %(id)s"),
    ("user_profiles", "SELECT * FROM user_profiles WHERE user_id = %(id)s"),
    ("ledger_entries", "SELECT * FROM ledger_entries WHERE user_id = %(id)s ORDER BY entry_id"),
    ("orders", "SELECT * FROM orders WHERE user_id = %(id)s ORDER BY order_id"),
    (
        "order_items",
        "SELECT i.* FROM order_items i JOIN orders o USING (order_id) WHERE o.user_id = %(id)s "
        "ORDER BY i.order_id, i.product_id",
    ),
    ("payments", "SELECT * FROM payments WHERE user_id = %(id)s ORDER BY payment_id"),
    ("seats", "SELECT * FROM seats WHERE booked_by = %(id)s ORDER BY ticketed_event_id, seat_no"),
    ("cart_items", "SELECT * FROM cart_items WHERE user_id = %(id)s ORDER BY product_id"),
    (
        "follow_record",
        "SELECT * FROM follow_record WHERE follower = %(id)s OR followee = %(id)s ORDER BY follower, followee",
    ),
    (
        "idempotency_keys",
        "SELECT key, response_status, created_at FROM idempotency_keys WHERE user_id = %(id)s ORDER BY created_at",
    ),
    (
        "session_backups",
        "SELECT role, to_timestamp(created_at) AS created_at, absolute_end FROM session_backups "
        "WHERE user_id = %(id)s ORDER BY created_at",
    ),
)
