"""The record of who follows whom, in an open transaction: written with the outbox event of each follow, so that the
graph (the projection that answers relationship queries) can be reconciled with it."""

from __future__ import annotations

from polysocial.stores.relational.txpart import TxPart


class PostgresFollows(TxPart):
    async def record(self, follower: int, followee: int) -> bool:
        # Both profiles are held (FOR SHARE) until the commit: an erasure deleting one of them waits for this
        # follow, or this follow finds the profile gone and records nothing (False).
        row = await self._one(
            "WITH alive AS (SELECT user_id FROM user_profiles WHERE user_id IN (%(a)s, %(b)s) FOR SHARE), "
            "recorded AS (INSERT INTO follow_record (follower, followee) SELECT %(a)s, %(b)s "
            "  WHERE (SELECT count(*) FROM alive) = 2 ON CONFLICT DO NOTHING) "
            "SELECT count(*) AS alive FROM alive",
            {"a": follower, "b": followee},
        )
        return row is not None and int(row["alive"]) == 2

    async def erase(self, follower: int, followee: int) -> None:
        await self.conn.execute("DELETE FROM follow_record WHERE follower = %s AND followee = %s", (follower, followee))
