"""Where the embedded engines keep their files under the data folder, and the URLs that reach them.

    <data_dir>/postgres/      PGDATA (owned by the unprivileged engine user when run as root)
    <data_dir>/redis/         redis.conf, append-only file, RDB snapshot, pid file, log
    <data_dir>/run/           unix sockets: run/pg/.s.PGSQL.5432 and run/redis.sock

Both engines listen on unix sockets only, so nothing is reachable from the network and ports never clash. A unix
socket path is limited to about 107 bytes; when the data folder is too deep for that, the sockets move to a short
folder under /tmp named after a hash of the data folder.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

POSTGRES_SOCKET_NAME = ".s.PGSQL.5432"
REDIS_SOCKET_NAME = "redis.sock"
MAX_SOCKET_PATH = 100  # below the kernel's 107-byte sun_path limit, with room to spare


@dataclass(frozen=True, slots=True)
class EngineLayout:
    data_dir: Path

    @property
    def postgres_data(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def run_dir(self) -> Path:
        preferred = self.data_dir / "run"
        if len(str(preferred / "pg" / POSTGRES_SOCKET_NAME)) <= MAX_SOCKET_PATH:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"polysocial-{digest}"

    @property
    def postgres_socket_dir(self) -> Path:
        return self.run_dir / "pg"

    @property
    def postgres_socket(self) -> Path:
        return self.postgres_socket_dir / POSTGRES_SOCKET_NAME

    @property
    def redis_socket(self) -> Path:
        return self.run_dir / REDIS_SOCKET_NAME

    @property
    def redis_pidfile(self) -> Path:
        return self.redis_dir / "redis.pid"

    def postgres_url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={quote(str(self.postgres_socket_dir), safe='/')}"

    def redis_url(self, *, graph: str | None = None) -> str:
        query = f"?graph={graph}" if graph else ""
        return f"unix://{self.redis_socket}{query}"
