"""Ids and their 16-byte form (Redis timelines store the bytes; the feed turns them back into ids)."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from polysocial.domain.ids import ALPHABET, ID_BYTES, from_bytes, is_id, make_id, new_id, to_bytes

ids = st.builds(make_id, st.integers(0, 2**48 - 1), st.integers(0, 2**80 - 1))


@given(ids)
def test_the_bytes_give_back_the_id(ulid: str) -> None:
    raw = to_bytes(ulid)
    assert len(raw) == ID_BYTES
    assert from_bytes(raw) == ulid


@given(st.binary(min_size=ID_BYTES, max_size=ID_BYTES))
def test_any_16_bytes_are_an_id_and_round_trip(raw: bytes) -> None:
    ulid = from_bytes(raw)
    assert is_id(ulid)
    assert to_bytes(ulid) == raw


@given(st.binary(min_size=ID_BYTES, max_size=ID_BYTES))
def test_the_table_encoding_agrees_with_base32(raw: bytes) -> None:
    """The look-up table gives what RFC 4648's base-32, mapped onto Crockford's alphabet, gives."""
    padded = (int.from_bytes(raw, "big") << 6).to_bytes(17, "big")
    rfc = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET.encode())
    assert from_bytes(raw) == base64.b32encode(padded)[:26].translate(rfc).decode()


@given(ids, ids)
def test_bytes_sort_as_the_ids_do(a: str, b: str) -> None:
    assert (to_bytes(a) < to_bytes(b)) == (a < b)


def test_new_ids_increase_within_a_millisecond() -> None:
    made = [new_id(now_ms=1_700_000_000_000) for _ in range(100)]
    assert made == sorted(made)
    assert len(set(made)) == 100
