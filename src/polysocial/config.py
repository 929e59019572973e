"""Settings: one URL per store role, and named profiles that fill in the ones left unset.

Every role (relational, documents, graph, keyvalue, timeseries, sessions) takes a URL; the URL's scheme picks the
adapter, so any mix works. A profile is only a preset for the URLs not given:

- ``embedded`` (default): PostgreSQL and Redis+FalkorDB that the program starts itself under ``data_dir``;
- ``seed``: the article's stack on its usual local ports (PostgreSQL, MongoDB, Neo4j, Redis, InfluxDB, Cassandra);
- ``postgres-only``: every role in one PostgreSQL (the embedded one unless ``relational_url`` is given).
"""

from __future__ import annotations

import enum
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from polysocial.engines.layout import EngineLayout
from polysocial.stores.breaker import BreakerPolicy, StoreOptions


class Profile(enum.StrEnum):
    EMBEDDED = "embedded"
    SEED = "seed"
    POSTGRES_ONLY = "postgres-only"


class Role(enum.StrEnum):
    RELATIONAL = "relational"
    DOCUMENTS = "documents"
    GRAPH = "graph"
    # Named for what it holds (sessions, limits, caches, leaderboards, carts, timelines), not for an engine: Redis
    # serves it in `embedded` and `seed`, PostgreSQL tables in `postgres-only`.
    KEYVALUE = "keyvalue"
    TIMESERIES = "timeseries"
    # Signed-in sessions: the keyvalue role's Redis in `embedded`, PostgreSQL in `postgres-only`, and Cassandra (the
    # article's AP store, at consistency ONE) in `seed`. A role of its own so that it can live on any of the three.
    SESSIONS = "sessions"


class EmbeddedEngine(enum.StrEnum):
    POSTGRES = "postgres"
    REDIS = "redis"


Environment = Literal["development", "test", "production"]

# The seed stack's servers on their customary local ports (docs/ARCHITECTURE.md, the `seed` column).
SEED_DEFAULTS: dict[Role, str] = {
    Role.RELATIONAL: "postgresql://postgres@localhost:5432/polysocial",
    Role.DOCUMENTS: "mongodb://localhost:27017/polysocial",
    Role.GRAPH: "neo4j://localhost:7687",  # the routing scheme: reads to followers, writes to the leader
    Role.KEYVALUE: "redis://localhost:6379/0",
    Role.TIMESERIES: "http://localhost:8086/polysocial",
    Role.SESSIONS: "cassandra://localhost:9042/polysocial",
}

# The URL schemes each role accepts; the scheme picks the adapter (stores/factory.py).
POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
# cassandra://host1,host2,host3:9042/keyspace: the contact points share one port; the path names the keyspace.
CASSANDRA_SCHEMES = frozenset({"cassandra"})
ROLE_SCHEMES: dict[Role, frozenset[str]] = {
    Role.RELATIONAL: POSTGRES_SCHEMES,
    Role.DOCUMENTS: POSTGRES_SCHEMES | {"mongodb", "mongodb+srv"},
    Role.GRAPH: POSTGRES_SCHEMES
    | REDIS_SCHEMES
    | {"falkor", "falkors", "bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"},
    Role.KEYVALUE: POSTGRES_SCHEMES | REDIS_SCHEMES,
    Role.TIMESERIES: POSTGRES_SCHEMES | {"http", "https"},
    Role.SESSIONS: POSTGRES_SCHEMES | REDIS_SCHEMES | CASSANDRA_SCHEMES,
}

EMBEDDED_DATABASE = "polysocial"

_warned: set[str] = set()


def warn_once(message: str) -> None:
    """One line on standard error per process, not a Python warning (tests run with warnings as errors, and a
    deprecation an operator must act on belongs in the output they read)."""
    if message not in _warned:
        _warned.add(message)
        print(f"warning: {message}", file=sys.stderr)


GRAPH_NAME = "social"
# The command timeout of bulk work (seed-data, bench, reconcile): loads and full scans, not requests.
BULK_COMMAND_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A resolved URL for one role, and whether it points at an engine this program runs itself."""

    role: Role
    url: str
    embedded: EmbeddedEngine | None = None

    @property
    def masked(self) -> str:
        return mask_url(self.url)

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme.lower()


# key=value secrets: in a query string (?password=...) or a libpq DSN ("host=db password=...").
_SECRET_PARAMETER = re.compile(r"(?i)\b(password|passwd|pwd|pass|secret|token|api[_-]?key)=([^&\s]*)")


def mask_url(url: str) -> str:
    """The URL with every password replaced by ``***``, safe for logs, errors and terminals, whatever its shape:
    ``scheme://user:password@host``, ``user:password@host`` without a scheme, a password holding ``@`` or ``/``,
    ``?password=`` in the query, or a libpq key=value DSN."""
    start = url.find("://")
    start = start + 3 if start >= 0 else 0
    at = url.rfind("@")
    masked = url
    if at > start:
        userinfo = url[start:at]
        if ":" in userinfo:
            masked = url[:start] + userinfo.split(":", 1)[0] + ":***" + url[at:]
    return _SECRET_PARAMETER.sub(lambda m: f"{m.group(1)}=***", masked)


def check_url(role: Role, url: str) -> None:
    """Raise ValueError, in one line naming the role and the masked URL, unless ``url`` can serve ``role``."""
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
        hosts = parts.netloc.rsplit("@", 1)[-1].split(",")  # several: a replica set's or a cluster's seed list
        for host in hosts:
            _ = urlsplit(f"//{host}").port  # raises on a non-numeric port
    except ValueError as exc:
        raise ValueError(f"{role} URL {shown} is malformed: {exc}") from None
    allowed = ROLE_SCHEMES[role]
    if parts.scheme.lower() not in allowed:
        raise ValueError(
            f"{role} URL {shown} has scheme {parts.scheme or '(none)'!r}; use one of "
            + ", ".join(f"{s}://" for s in sorted(allowed))
        )
    if parts.scheme == "unix" and not parts.path:
        raise ValueError(f"{role} URL {shown} names no socket path")
    if parts.scheme not in {"unix", *POSTGRES_SCHEMES} and not parts.hostname:
        raise ValueError(f"{role} URL {shown} names no host")


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error must never echo a URL with its password.
    model_config = SettingsConfigDict(env_prefix="POLYSOCIAL_", extra="forbid", frozen=True, hide_input_in_errors=True)

    profile: Profile = Profile.EMBEDDED
    environment: Environment = "development"
    data_dir: Path = Field(default=Path(".polysocial"), description="where the embedded engines keep their data")

    # Backups (`polysocial backup`) and the write-ahead log archive that makes point-in-time recovery possible. Kept
    # beside the data folder, not in it: a lost data folder must not take its backups along. Default
    # `<data_dir>-backups`. Once a backup exists, the embedded PostgreSQL's WAL is streamed there as it is written.
    backup_dir: Path | None = None
    # InfluxDB's RPC service (its `bind-address`, port 8088 unless changed) that `influxd backup` and `influxd restore`
    # talk to, as host:port. Default: the timeseries URL's host, port 8088.
    timeseries_backup_address: str | None = Field(default=None, pattern=r"^[^\s:/]+:\d{1,5}$")

    relational_url: SecretStr | None = None
    documents_url: SecretStr | None = None
    graph_url: SecretStr | None = None
    keyvalue_url: SecretStr | None = None
    # The keyvalue role's URL under its old name: still read, with one deprecation line (see _deprecated_names).
    redis_url: SecretStr | None = Field(default=None, description="deprecated: use keyvalue_url")
    timeseries_url: SecretStr | None = None
    sessions_url: SecretStr | None = None
    # Streaming replicas of the relational role's PostgreSQL (comma-separated URLs): reads that may be a little stale
    # go there (stores/replicas.py), except a user's own for `read_your_writes_s` after they wrote, or until the
    # replica has replayed that write. A replica that fails is skipped: the primary answers.
    relational_replica_urls: SecretStr | None = None
    read_your_writes_s: float = Field(default=30.0, gt=0, le=3600)

    # One line per HTTP request (request id, method, route, status, duration, user id), whatever the log level:
    # the request log an operator reads. Off: only the metrics and the analytics record requests.
    access_log: bool = True

    host: str = "127.0.0.1"
    # The proxies whose X-Forwarded-For (the client's address: the login limiter keys on it) is believed, as
    # comma-separated addresses or networks. Default none: a client could otherwise name any address it likes.
    forwarded_allow_ips: str = ""
    # Browser origins (scheme://host[:port], comma-separated) whose pages may call the API from another origin (CORS);
    # default none: only same-origin pages (the web client) and non-browser clients. Bearer tokens, not cookies, so
    # credentials are never allowed cross-origin.
    cors_origins: str = Field(default="", pattern=r"^\s*(\*|https?://[^\s/,]+(\s*,\s*https?://[^\s/,]+)*)?\s*$")
    port: int = Field(default=8000, ge=0, le=65535)
    # How long a request waits for a store before it answers 503 naming the role (docs/ARCHITECTURE.md, "When a
    # store fails"): to connect or get a pooled connection, and for an answer. After `breaker_failures` transport
    # failures in a row a role's circuit breaker opens: calls to it fail at once for `breaker_open_s`, then one
    # probe goes through. Bulk commands (seed-data, bench, reconcile) give commands longer (BULK_COMMAND_TIMEOUT_S).
    connect_timeout_s: float = Field(default=1.0, gt=0, le=120)
    command_timeout_s: float = Field(default=1.0, gt=0, le=600)
    breaker_failures: int = Field(default=3, ge=1, le=1000)
    breaker_open_s: float = Field(default=1.0, gt=0, le=300)
    # Connections per PostgreSQL URL in this process (the embedded server allows 200 in all).
    postgres_pool_size: int = Field(default=20, ge=2, le=150)
    # Redis shares one server with the FalkorDB graph in `embedded`: the graph must never be evicted, so the policy is
    # volatile-lru (only keys with a TTL go) under this limit (docs/ARCHITECTURE.md).
    embedded_redis_maxmemory_mb: int = Field(default=512, ge=16)

    # Passwords: argon2id, OWASP's first recommendation by default (services/passwords.py).
    argon2_time_cost: int = Field(default=2, ge=1, le=20)
    argon2_memory_kib: int = Field(default=19_456, ge=8, le=4 * 1024 * 1024)
    argon2_parallelism: int = Field(default=1, ge=1, le=16)
    # Sessions: idle and absolute timeouts.
    session_idle_s: int = Field(default=30 * 60, ge=1)
    session_absolute_s: int = Field(default=8 * 3600, ge=1)
    # The outbox relay runs inside `serve` unless a separate `polysocial worker` does the job; with several server
    # processes (here or on other machines) one of them runs it, the holder of a lease in PostgreSQL.
    relay_in_process: bool = True
    # Processes `polysocial serve` runs (each an event loop with its own pools); none given: one per core.
    workers: int | None = Field(default=None, ge=1, le=64)
    relay_batch_size: int = Field(default=100, ge=1, le=10_000)
    relay_max_attempts: int = Field(default=8, ge=1, le=100)
    # Authors with more followers than this are not fanned out: their posts are merged into feeds at read time.
    feed_celebrity_followers: int = Field(default=10_000, ge=0)

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    def store_options(self) -> StoreOptions:
        return StoreOptions(
            connect_s=self.connect_timeout_s,
            command_s=self.command_timeout_s,
            breaker=BreakerPolicy(failures=self.breaker_failures, open_s=self.breaker_open_s),
        )

    def for_bulk_work(self) -> Settings:
        """These settings with room for long commands (bulk loads, full scans), for commands that are not serving
        requests."""
        return self.model_copy(update={"command_timeout_s": max(self.command_timeout_s, BULK_COMMAND_TIMEOUT_S)})

    @model_validator(mode="after")
    def _check_urls(self) -> Settings:
        for role in Role:
            value = self.role_url_setting(role)
            if value is not None:
                check_url(role, value)
        return self

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        # The embedded engines trust every local connection: fine on a laptop, never for real users' data.
        if self.environment == "production" and self.embedded_engines_needed():
            raise ValueError(
                "environment=production refuses the embedded engines (trust authentication on one machine): "
                "give every role a URL (POLYSOCIAL_<ROLE>_URL) or choose the seed profile"
            )
        return self

    # -- resolution --------------------------------------------------------------------------------------------

    @model_validator(mode="after")
    def _deprecated_names(self) -> Settings:
        if self.redis_url is not None:
            if self.keyvalue_url is not None:
                raise ValueError("give POLYSOCIAL_KEYVALUE_URL only (POLYSOCIAL_REDIS_URL is its deprecated name)")
            warn_once(
                "POLYSOCIAL_REDIS_URL is deprecated: use POLYSOCIAL_KEYVALUE_URL (the role is named for what it "
                "holds); the old name is still read"
            )
        return self

    def role_url_setting(self, role: Role) -> str | None:
        secret: SecretStr | None = getattr(self, f"{role.value}_url")
        if role is Role.KEYVALUE and secret is None:
            secret = self.redis_url
        return secret.get_secret_value() if secret is not None else None

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def backup_path(self) -> Path:
        if self.backup_dir is not None:
            return self.backup_dir.expanduser().resolve()
        data = self.data_path
        return data.with_name(data.name + "-backups")

    def store_url(self, role: Role) -> StoreURL:
        """The URL this process uses for ``role``: the explicit setting, else the profile's preset."""
        explicit = self.role_url_setting(role)
        if explicit:
            return StoreURL(role, explicit)
        if role is Role.SESSIONS and self.profile is Profile.EMBEDDED:
            # Sessions live with the keyvalue role (its Redis, or wherever its URL points).
            keyvalue = self.store_url(Role.KEYVALUE)
            return StoreURL(role, keyvalue.url, keyvalue.embedded)
        if self.profile is Profile.SEED:
            return StoreURL(role, SEED_DEFAULTS[role])
        if self.profile is Profile.POSTGRES_ONLY:
            relational = self.role_url_setting(Role.RELATIONAL)
            if relational:
                return StoreURL(role, relational)
            return StoreURL(role, self.embedded_postgres_url(), EmbeddedEngine.POSTGRES)
        # embedded
        layout = EngineLayout(self.data_path)
        if role in (Role.GRAPH, Role.KEYVALUE, Role.SESSIONS):
            url = layout.redis_url(graph=GRAPH_NAME if role is Role.GRAPH else None)
            return StoreURL(role, url, EmbeddedEngine.REDIS)
        return StoreURL(role, self.embedded_postgres_url(), EmbeddedEngine.POSTGRES)

    def embedded_postgres_url(self) -> str:
        return EngineLayout(self.data_path).postgres_url(EMBEDDED_DATABASE)

    def replica_urls(self) -> list[StoreURL]:
        """The relational role's read replicas (none unless set)."""
        raw = self.relational_replica_urls.get_secret_value() if self.relational_replica_urls else ""
        return [StoreURL(Role.RELATIONAL, url.strip()) for url in raw.split(",") if url.strip()]

    def store_urls(self) -> dict[Role, StoreURL]:
        return {role: self.store_url(role) for role in Role}

    def embedded_engines_needed(self) -> set[EmbeddedEngine]:
        return {u.embedded for u in self.store_urls().values() if u.embedded is not None}
