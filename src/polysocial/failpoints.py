"""Named failpoints for crash tests: ``failpoint("relay.after_handler")`` ends the process on the spot (os._exit, no
cleanup, no flush: as a power cut or a SIGKILL would) when that name is armed.

Armed by the environment variable ``POLYSOCIAL_FAILPOINTS`` (comma-separated names), read once at import, so a test
arms it in a child process and an unarmed process pays one set lookup per point.
"""

from __future__ import annotations

import os
import sys

EXIT_CODE = 86

SIGNUP_AFTER_BUSINESS_WRITE = "signup.after_business_write"
SIGNUP_AFTER_OUTBOX_WRITE = "signup.after_outbox_write"
SIGNUP_AFTER_COMMIT = "signup.after_commit"
RELAY_AFTER_CLAIM = "relay.after_claim"
RELAY_AFTER_HANDLER = "relay.after_handler"
RELAY_AFTER_MARK_PROCESSED = "relay.after_mark_processed"
RELAY_AFTER_MARK_DONE = "relay.after_mark_done"
RELAY_AFTER_COMMIT = "relay.after_commit"
DOCUMENT_AFTER_HANDLER = "relay.document_after_handler"
DOCUMENT_AFTER_ACK = "relay.document_after_ack"
IDEMPOTENCY_AFTER_CLAIM = "idempotency.after_claim"
ERASURE_MIDWAY = "erasure.midway"  # the documents erased, the graph and the key-value role not yet

ALL = (
    SIGNUP_AFTER_BUSINESS_WRITE,
    SIGNUP_AFTER_OUTBOX_WRITE,
    SIGNUP_AFTER_COMMIT,
    RELAY_AFTER_CLAIM,
    RELAY_AFTER_HANDLER,
    RELAY_AFTER_MARK_PROCESSED,
    RELAY_AFTER_MARK_DONE,
    RELAY_AFTER_COMMIT,
    DOCUMENT_AFTER_HANDLER,
    DOCUMENT_AFTER_ACK,
    IDEMPOTENCY_AFTER_CLAIM,
    ERASURE_MIDWAY,
)

_armed = frozenset(name.strip() for name in os.environ.get("POLYSOCIAL_FAILPOINTS", "").split(",") if name.strip())
_unknown = _armed - set(ALL)
if _unknown:
    raise SystemExit(f"POLYSOCIAL_FAILPOINTS names unknown failpoints: {sorted(_unknown)}")


def failpoint(name: str) -> None:
    if name in _armed:
        sys.stderr.write(f"failpoint {name}: exiting\n")
        sys.stderr.flush()
        os._exit(EXIT_CODE)
