"""Sessions on Apache Cassandra (the `seed` profile), as the article's CAP section writes them: an AP store, sign-in at
consistency ONE. The levels of every operation are chosen in domain/consistency.py (SESSION_CONSISTENCY), with why.

URL: ``cassandra://host1,host2,host3:9042/keyspace`` (every contact point on the one port; ``user:password@`` for
PasswordAuthenticator; ``?replication_factor=N`` for a keyspace this adapter creates, default the number of nodes up
to 3).

Two tables:

- ``user_sessions``: one row per session, keyed by the token's hash, with a TTL of the session's absolute lifetime.
  The idle timer is the ``touched_at`` cell, compared here and rewritten (alone, at ONE) at most once a minute: a
  touch never rewrites the other cells, so one that races a logout leaves a row with no user, which reads as no
  session, and never brings the session back.
- ``session_revocations``: ``t:<hash>`` for one session ended, ``u:<user id>`` with the time before which every
  session of that user is ended (sign out everywhere: no list of sessions to find, so none is missed). Written and
  read at QUORUM, with a TTL of the absolute lifetime (no session outlives it anyway).

The DataStax driver runs its own event loop (libev) in a thread. ``execute_async`` gives a ``ResponseFuture``; its
callbacks resolve an asyncio future through ``call_soon_threadsafe``, so the app's loop never blocks on Cassandra.
Every query here reads or writes one partition, so the first page is the whole answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cassandra import ConsistencyLevel, OperationTimedOut, ProtocolVersion, ReadTimeout, Unavailable
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, ResponseFuture, Session
from cassandra.policies import (
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
    WhiteListRoundRobinPolicy,
)
from cassandra.query import PreparedStatement, SimpleStatement, tuple_factory

from polysocial.config import StoreURL
from polysocial.domain.accounts import Session as UserSession
from polysocial.domain.accounts import UserRole
from polysocial.domain.consistency import SESSION_CONSISTENCY, SessionOp
from polysocial.domain.errors import ConfigError
from polysocial.stores.base import Adapter, EngineInfo
from polysocial.stores.breaker import StoreOptions

# The idle timer is rewritten when it is older than this (or than a tenth of the idle timeout, if shorter): a
# session ends between 0 and this many seconds early, for one write a minute instead of one per request.
TOUCH_EVERY_S = 60.0
SCHEMA_TIMEOUT_S = 60.0
# A replica that has not answered a read within 20 ms is asked again of another: a node that has just died (and is
# not yet marked down, which takes seconds) would otherwise hold a QUORUM read for the server's 5 s read timeout.
# The default (the table's 99th percentile) has no figures to go on for a table read this little. A node applies it
# from its first recomputation of thresholds (every read_request_timeout, 5 s by default) after the table is created
# or the node started; until then it waits half that timeout, 2.5 s, before it asks another replica.
SPECULATIVE = "speculative_retry = '20ms'"
# A coordinator that has not answered within this (a quarter of the command timeout, if shorter) is not waited on:
# the same statement goes to the next node of the query plan too, and the first answer wins. A coordinator that is
# paused, or started less than 5 s ago and waits 2.5 s on a replica that has just died (above), would otherwise
# hold a session check that long: with a node SIGKILLed 3 s after another was restarted, the slowest check took
# 2.6 s without this and 0.2 to 1.1 s with it. Every statement here is idempotent (no counters, no conditions, every
# value bound once), so one sent twice writes the same cells.
SPECULATE_AFTER_S = 0.25
DEFAULT_PORT = 9042
# The least time a statement of a session check is given, however little of the check's deadline is left.
MIN_STATEMENT_S = 0.05

LEVELS: dict[SessionOp, int] = {op: ConsistencyLevel.name_to_value[name] for op, name in SESSION_CONSISTENCY.items()}

# What a miss confirmed at QUORUM may fail with when too few replicas answer: the ONE answer (no session) stands.
_QUORUM_REFUSALS = (Unavailable, ReadTimeout, OperationTimedOut, NoHostAvailable)


def parse_url(url: str) -> tuple[list[str], int, str, PlainTextAuthProvider | None, int | None]:
    """(contact points, port, keyspace, credentials, replication factor) of a ``cassandra://`` URL."""
    parts = urlsplit(url)
    hostlist = parts.netloc.rsplit("@", 1)[-1]
    if parts.port:
        hostlist = hostlist.rsplit(":", 1)[0]
    hosts = [h for h in hostlist.split(",") if h]
    port = parts.port or DEFAULT_PORT
    keyspace = parts.path.strip("/") or "polysocial"
    if not keyspace.replace("_", "").isalnum():
        raise ConfigError(f"sessions URL: keyspace {keyspace!r} must be letters, digits and underscores")
    auth = None
    if parts.username:
        auth = PlainTextAuthProvider(unquote(parts.username), unquote(parts.password or ""))
    factor = parse_qs(parts.query).get("replication_factor", [None])[0]
    if factor is not None and not factor.isdigit():
        raise ConfigError(f"sessions URL: replication_factor={factor!r} is not a number")
    return hosts, port, keyspace, auth, int(factor) if factor else None


def _resolve(loop: asyncio.AbstractEventLoop, response: ResponseFuture) -> asyncio.Future[list[Any]]:
    """An asyncio future of the driver's future (its callbacks run on the driver's thread)."""
    result: asyncio.Future[list[Any]] = loop.create_future()

    def settle(value: Any, failed: bool) -> None:
        if result.done():  # the awaiting task was cancelled
            return
        if failed:
            result.set_exception(value)
        else:
            result.set_result(list(value or ()))

    response.add_callbacks(
        lambda rows: loop.call_soon_threadsafe(settle, rows, False),
        lambda exc: loop.call_soon_threadsafe(settle, exc, True),
    )
    return result


class CassandraSessionStore(Adapter):
    durable = True  # replicated and written to each replica's commit log: no second copy

    def __init__(
        self, location: StoreURL, options: StoreOptions | None = None, *, coordinators: Sequence[str] | None = None
    ) -> None:
        """``coordinators``: only these nodes' addresses coordinate requests (tests that ask each node in turn);
        default every node, the replicas of each session first."""
        super().__init__(location, options)
        self.hosts, self.port, self.keyspace, self._auth, self._factor = parse_url(location.url)
        self._coordinators = list(coordinators) if coordinators else None
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._statements: dict[str, PreparedStatement] = {}

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def _connect(self) -> None:
        await asyncio.to_thread(self._connect_blocking)

    def _connect_blocking(self) -> None:
        profile = ExecutionProfile(
            load_balancing_policy=(
                WhiteListRoundRobinPolicy(self._coordinators)
                if self._coordinators
                else TokenAwarePolicy(DCAwareRoundRobinPolicy())
            ),
            row_factory=tuple_factory,
            request_timeout=self.options.command_s,
            speculative_execution_policy=ConstantSpeculativeExecutionPolicy(
                min(SPECULATE_AFTER_S, self.options.command_s / 4), max_attempts=2
            ),
        )
        cluster = Cluster(
            self.hosts,
            port=self.port,
            auth_provider=self._auth,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            protocol_version=ProtocolVersion.V5,  # Cassandra 4.0 and later; spares a negotiation and its warnings
            # A node back from a crash is used again within seconds (the default waits up to ten minutes).
            reconnection_policy=ExponentialReconnectionPolicy(0.5, 5.0),
            connect_timeout=self.options.connect_s,
            control_connection_timeout=max(self.options.connect_s, 2.0),
            idle_heartbeat_interval=5,
        )
        self._cluster = cluster
        session = cluster.connect()
        self._create_schema(session)
        self._session = session
        self._prepare(session)

    def _create_schema(self, session: Session) -> None:
        """The keyspace and tables, unless the driver's schema metadata has them already (every open of every
        process would otherwise send three DDL statements and wait for schema agreement)."""
        known = self._cluster.metadata.keyspaces.get(self.keyspace) if self._cluster else None
        if known is not None and {"user_sessions", "session_revocations"} <= set(known.tables):
            return
        factor = self._factor or min(3, len(self._cluster.metadata.all_hosts()) if self._cluster else 1)
        statements = [
            f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication = "
            f"{{'class': 'SimpleStrategy', 'replication_factor': {factor}}}",
            f"CREATE TABLE IF NOT EXISTS {self.keyspace}.user_sessions ("
            " token_hash text PRIMARY KEY, user_id bigint, role text, created_at double, touched_at double)"
            f" WITH {SPECULATIVE}",
            f"CREATE TABLE IF NOT EXISTS {self.keyspace}.session_revocations (key text PRIMARY KEY, before double)"
            f" WITH {SPECULATIVE}",
        ]
        for statement in statements:
            session.execute(statement, timeout=SCHEMA_TIMEOUT_S)

    def _prepare(self, session: Session) -> None:
        # The keyspace is a name parse_url checked (letters, digits, underscores); every value is a bound parameter.
        sessions, revocations = f"{self.keyspace}.user_sessions", f"{self.keyspace}.session_revocations"
        cql = {
            "insert": f"INSERT INTO {sessions} (token_hash, user_id, role, created_at, touched_at) "
            "VALUES (?, ?, ?, ?, ?) USING TTL ?",
            "select": f"SELECT user_id, role, created_at, touched_at FROM {sessions} WHERE token_hash = ?",
            "touch": f"UPDATE {sessions} USING TTL ? SET touched_at = ? WHERE token_hash = ?",
            "delete": f"DELETE FROM {sessions} WHERE token_hash = ?",
            "revoke": f"INSERT INTO {revocations} (key, before) VALUES (?, ?) USING TTL ?",
            "revoked": f"SELECT key, before FROM {revocations} WHERE key IN (?, ?)",
        }
        self._statements = {name: session.prepare(text) for name, text in cql.items()}
        for statement in self._statements.values():
            statement.is_idempotent = True  # see SPECULATE_AFTER_S

    async def close(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    @property
    def session(self) -> Session:
        """The driver's session (tests and `doctor` run their own statements on it)."""
        if self._session is None:
            raise self.not_open()
        return self._session

    async def _run(
        self, name: str, params: Sequence[Any], op: SessionOp, *, deadline: float | None = None
    ) -> list[Any]:
        """One prepared statement; with ``deadline`` (a ``time.monotonic()`` instant), the driver gives up at it
        rather than after a whole command timeout of its own."""
        bound = self._statements[name].bind(params)
        bound.consistency_level = LEVELS[op]
        timeout = self.options.command_s if deadline is None else max(MIN_STATEMENT_S, deadline - time.monotonic())
        return await _resolve(asyncio.get_running_loop(), self.session.execute_async(bound, timeout=timeout))

    async def execute(self, cql: str, params: Sequence[Any] = (), *, level: str = "ONE") -> list[Any]:
        """One statement at the named consistency level (tests, `doctor` and the demo ask for ALL this way)."""
        statement = SimpleStatement(cql, consistency_level=ConsistencyLevel.name_to_value[level])
        return await _resolve(asyncio.get_running_loop(), self.session.execute_async(statement, list(params)))

    # -- the Store verbs ------------------------------------------------------------------------------------------

    async def ping(self) -> None:
        await self.execute("SELECT release_version FROM system.local")

    def nodes(self) -> tuple[int, int]:
        """(nodes the driver sees up, nodes it knows of)."""
        if self._cluster is None:
            return (0, 0)
        hosts = self._cluster.metadata.all_hosts()
        return (sum(1 for h in hosts if h.is_up), len(hosts))

    async def engine_info(self) -> EngineInfo:
        rows = await self.execute("SELECT release_version FROM system.local")
        version = str(rows[0][0])
        up, known = self.nodes()
        ks = self._cluster.metadata.keyspaces.get(self.keyspace) if self._cluster else None
        factor = ks.replication_strategy.replication_factor if ks is not None else "?"
        return EngineInfo("Cassandra", version, f"{up} of {known} nodes up, replication factor {factor}")

    async def wipe(self) -> None:
        for table in ("user_sessions", "session_revocations"):
            await self.execute(f"TRUNCATE {self.keyspace}.{table}", level="ALL")

    async def item_count(self) -> int:
        rows = await self.execute(f"SELECT COUNT(*) FROM {self.keyspace}.user_sessions", level="QUORUM")
        return int(rows[0][0])

    # -- sessions -------------------------------------------------------------------------------------------------

    async def create(self, token_hash: str, session: UserSession, *, idle_s: int, absolute_s: int) -> None:
        ttl = _ttl(session.created_at + absolute_s)
        params = (token_hash, session.user_id, session.role.value, session.created_at, session.created_at, ttl)
        await self._run("insert", params, SessionOp.CREATE)

    async def read(self, token_hash: str, *, idle_s: int, absolute_s: int) -> UserSession | None:
        # Up to four statements, one after the other, within one command timeout between them: a request that
        # cannot be checked is refused within that time, not after four of them.
        deadline = time.monotonic() + self.options.command_s
        rows = await self._run("select", (token_hash,), SessionOp.READ, deadline=deadline)
        if not rows or rows[0][0] is None:
            try:
                rows = await self._run("select", (token_hash,), SessionOp.CONFIRM_MISS, deadline=deadline)
            except _QUORUM_REFUSALS:
                return None  # too few replicas to ask: the answer at ONE stands
            if not rows or rows[0][0] is None:  # no row, or only a touch that raced a logout
                return None
        user_id, role, created_at, touched_at = rows[0]
        now = time.time()
        touched_at = touched_at or created_at
        if now >= created_at + absolute_s or now >= touched_at + idle_s:
            return None
        revoked = await self._run(
            "revoked", (f"t:{token_hash}", f"u:{user_id}"), SessionOp.CHECK_REVOKED, deadline=deadline
        )
        for key, before in revoked:
            if key.startswith("t:") or created_at <= before:
                return None
        if now - touched_at >= min(TOUCH_EVERY_S, idle_s / 10):
            await self._run(
                "touch", (_ttl(created_at + absolute_s), now, token_hash), SessionOp.TOUCH, deadline=deadline
            )
        return UserSession(int(user_id), UserRole(role), float(created_at))

    async def revoke(self, token_hash: str, *, absolute_s: int) -> None:
        # The record first: once it is on a quorum, no check anywhere accepts the token; the row's deletion only
        # frees space sooner.
        await self._run("revoke", (f"t:{token_hash}", time.time(), absolute_s), SessionOp.REVOKE)
        await self._run("delete", (token_hash,), SessionOp.REVOKE)

    async def revoke_user(self, user_id: int, *, absolute_s: int) -> None:
        await self._run("revoke", (f"u:{user_id}", time.time(), absolute_s), SessionOp.REVOKE)


def _ttl(end: float) -> int:
    """Seconds from now until ``end``, at least 1 (Cassandra refuses a TTL of 0 as 'no TTL')."""
    return max(1, int(end - time.time()) + 1)
