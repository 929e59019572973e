"""Idempotency keys, on Stripe's design: a POST that moves money or stock may carry ``Idempotency-Key``. The first
request with a key runs and its response is kept 24 hours; the same key with the same request returns that response
again; with a different request, 409; while the first is still running, 409."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from polysocial.domain.errors import Conflict

MAX_KEY_LENGTH = 255
LOCK_S = 60.0  # a request that holds a key longer than this (a crashed process) no longer blocks a retry


class IdempotencyConflict(Conflict):
    title = "Idempotency key conflict"
    type_slug = "idempotency-conflict"


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    claimed: bool  # this request now holds the key and runs
    same_request: bool
    response_status: int | None = None  # set once the holder finished
    response_body: Any = None


def fingerprint(method: str, path: str, body: Any) -> str:
    """The request's identity: method, path and body, canonically encoded."""
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
