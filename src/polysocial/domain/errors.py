"""Errors that carry their meaning: domain errors know their HTTP status, and one handler renders them as
``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import math
from typing import ClassVar


class PolysocialError(Exception):
    """Base of every error this package raises on purpose."""


class DomainError(PolysocialError):
    """A request that cannot be done as asked. ``status`` and ``title`` become the problem document."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    type_slug: ClassVar[str] = "bad-request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def headers(self) -> dict[str, str]:
        """Response headers the error implies (Retry-After, WWW-Authenticate)."""
        return {}


class NotFound(DomainError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"
    type_slug = "unauthorized"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class TooMuchContention(DomainError):
    """Serialization failures or deadlocks kept coming back past the retry budget: nothing changed; try again."""

    status = 503
    title = "Too much contention"
    type_slug = "too-much-contention"

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class RateLimited(DomainError):
    status = 429
    title = "Too many requests"
    type_slug = "rate-limited"

    def __init__(self, retry_after_s: float, what: str = "requests", rate: dict[str, str] | None = None) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        self.rate = rate or {}  # the RateLimit-* headers of the limit that refused
        super().__init__(f"too many {what}; try again in {self.retry_after_s} s")

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s), **self.rate}


class ServiceUnavailable(DomainError):
    status = 503
    title = "Service unavailable"
    type_slug = "service-unavailable"


class ConfigError(PolysocialError):
    """Settings that cannot work: a malformed URL, an unknown scheme for a role."""


class EngineError(PolysocialError):
    """An embedded engine or a test server could not be started or stopped."""


class StoreUnavailable(PolysocialError):
    """A store role cannot be reached. The message is one line naming the role and the masked URL;
    ``retry_after_s`` is when trying again makes sense (the role's circuit breaker knows)."""

    def __init__(self, role: str, masked_url: str, reason: str, *, retry_after_s: float = 1.0) -> None:
        self.role = role
        self.masked_url = masked_url
        self.reason = reason
        self.retry_after_s = retry_after_s
        super().__init__(f"{role} store unreachable at {masked_url}: {reason}")


class StoresUnavailable(PolysocialError):
    """One or more roles could not be opened; one line per role."""

    def __init__(self, failures: list[StoreUnavailable]) -> None:
        self.failures = failures
        super().__init__("\n".join(str(f) for f in failures))
