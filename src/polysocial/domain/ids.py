"""Time-ordered ids (ULID: 48-bit milliseconds, 80 random bits, 26 Crockford base-32 characters).

Sorting the strings sorts by creation time, which timelines, cursors ("before this id") and Redis sorted-set
members rely on; within one millisecond the random part is incremented, so ids from one process stay ordered.
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
ID_BYTES = 16

# base64's base-32 (RFC 4648) alphabet maps one to one onto Crockford's.
_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_RFC = str.maketrans(ALPHABET, _RFC4648)
_PAIRS = tuple(a + b for a in ALPHABET for b in ALPHABET)  # the two characters of every 10-bit value

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
        return make_id(ms, _last_random)


def make_id(ms: int, random_bits: int) -> str:
    """The id of millisecond ``ms`` with the given 80 random bits (seeded data uses a seeded generator)."""
    return _encode(ms, 10) + _encode(random_bits & ((1 << 80) - 1), 16)


def is_id(value: str) -> bool:
    return bool(PATTERN.match(value))


class IdOutOfRange(ValueError):
    """26 base-32 characters hold 130 bits; a ULID uses 128 (its first character is 0 to 7)."""


def to_bytes(ulid: str) -> bytes:
    """The id's 128 bits, big-endian: comparing the bytes compares the ids, in 16 bytes instead of 26 (Redis
    timelines store these)."""
    raw = base64.b32decode(ulid.translate(_TO_RFC) + "AAAAAA")  # 26 + 6 characters: 160 bits, the id's 130 first
    value = int.from_bytes(raw[:17], "big") >> 6
    if value >> 128:
        raise IdOutOfRange(f"{ulid!r} is beyond the largest id")
    return value.to_bytes(ID_BYTES, "big")


def from_bytes(raw: bytes) -> str:
    """The id of ``to_bytes``. On the feed's path (20 per page): two characters per 10 bits from a table, 13 look-ups
    for the 130 bits (2 zero bits, then the 128). base64's base-32 is pure Python and cost 4% of a feed request."""
    v = int.from_bytes(raw, "big")
    p = _PAIRS
    return "".join(
        (
            p[v >> 120],
            p[(v >> 110) & 1023],
            p[(v >> 100) & 1023],
            p[(v >> 90) & 1023],
            p[(v >> 80) & 1023],
            p[(v >> 70) & 1023],
            p[(v >> 60) & 1023],
            p[(v >> 50) & 1023],
            p[(v >> 40) & 1023],
            p[(v >> 30) & 1023],
            p[(v >> 20) & 1023],
            p[(v >> 10) & 1023],
            p[v & 1023],
        )
    )
