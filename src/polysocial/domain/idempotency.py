"""Idempotency keys, on Stripe's design: a POST that moves money or stock may carry ``Idempotency-Key``. The first
request with a key runs and its response is kept 24 hours; the same key with the same request returns that response
again; with a different request, 409; while the first is still running, 409.

A claim is a lease held by one request (its owner). A request whose process died stops blocking its key when the
lease runs out, a few seconds later; the retry then takes the key over. A request that is merely slow and outlives
its lease cannot record its answer once the key has a new owner: its transaction is rolled back, so the work is done
once, by the retry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from polysocial.domain.errors import Conflict

MAX_KEY_LENGTH = 255
# How long a claim blocks a retry with the same key. Well above a money transaction's time (milliseconds; a few
# hundred under contention, with its retries), well below what a client retrying after a crash waits.
LEASE_S = 3.0


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
