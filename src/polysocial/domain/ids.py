"""Time-ordered ids (ULID: 48-bit milliseconds, 80 random bits, 26 Crockford base-32 characters).

Sorting the strings sorts by creation time, which timelines, cursors ("before this id") and Redis sorted-set
members rely on; within one millisecond the random part is incremented, so ids from one process stay ordered.
"""

from __future__ import annotations

import os
import re
import threading
import time

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(now_ms: int | None = None) -> str:
    global _last_ms, _last_random
    with _lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if ms <= _last_ms:
            ms = _last_ms
            _last_random = (_last_random + 1) & ((1 << 80) - 1)
        else:
            _last_ms = ms
            _last_random = int.from_bytes(os.urandom(10), "big")
        return _encode(ms, 10) + _encode(_last_random, 16)


def is_id(value: str) -> bool:
    return bool(PATTERN.match(value))
