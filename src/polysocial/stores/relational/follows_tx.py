"""The record of who follows whom, in an open transaction: written with the outbox event of each follow, so that the
graph (the projection that answers relationship queries) can be reconciled with it."""

from __future__ import annotations

from polysocial.stores.relational.txpart import TxPart


class PostgresFollows(TxPart):
    async def record(self, follower: int, followee: int) -> None:
        await self.conn.execute(
            "INSERT INTO follow_record (follower, followee) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (follower, followee),
        )

    async def erase(self, follower: int, followee: int) -> None:
        await self.conn.execute("DELETE FROM follow_record WHERE follower = %s AND followee = %s", (follower, followee))
