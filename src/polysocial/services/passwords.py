"""Password hashing with argon2id (argon2-cffi), off the event loop.

The default parameters are OWASP's first argon2id recommendation (19 MiB, 2 passes, 1 lane): about 30 ms of one
core here, so a 2-core server still signs in dozens of users a second. They are settings; a hash made with older
parameters is replaced at the next successful login. Hashing runs in a small thread pool of its own: each hash
holds ``memory_kib`` of memory, so the pool's size bounds the memory that a burst of logins can take.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    time_cost: int = 2
    memory_kib: int = 19_456
    parallelism: int = 1

    def __str__(self) -> str:
        return f"argon2id m={self.memory_kib} KiB, t={self.time_cost}, p={self.parallelism}"


class Passwords:
    def __init__(self, parameters: Argon2Parameters, *, threads: int = 4) -> None:
        self.parameters = parameters
        self._hasher = PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
            type=Type.ID,
        )
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        # Verified against when the email is unknown, so that "no such user" costs what "wrong password" costs.
        self._dummy_hash = self._hasher.hash("polysocial: no such account")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with no hash (unknown user), False after the same amount of work."""
        target = password_hash if password_hash is not None else self._dummy_hash
        matched = await asyncio.get_running_loop().run_in_executor(self._pool, self._verify, target, password)
        return matched and password_hash is not None

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
