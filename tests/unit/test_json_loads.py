"""PostgreSQL's json and jsonb values are decoded by orjson where it reads them as the standard library does, and by
the standard library where it would not (stores/postgres_pool.py)."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polysocial.stores.postgres_pool import json_loads


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 and 1.0 differ here, and 0.0 and -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and (a == b or (math.isnan(a) and math.isnan(b)))
    return bool(a == b)


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


@given(values)
def test_any_json_value_reads_as_the_standard_library_reads_it(value: Any) -> None:
    text = json.dumps(value).encode()
    assert same(json_loads(text), json.loads(text))


@pytest.mark.parametrize(
    "text",
    [
        b"18446744073709551615",  # 2**64 - 1: orjson's largest integer
        b"18446744073709551616",  # 2**64: a float to orjson
        b"-9223372036854775808",
        b"-9223372036854775809",  # below -2**63: a float to orjson
        b'{"n": 123456789012345678901234567890}',
        b"1" + b"0" * 300,  # how PostgreSQL's jsonb writes 1e300 (a numeric): an integer
        b"1e400",  # infinity to the standard library, refused by orjson
        b"-1e400",
        b'"\\ud800"',  # a lone surrogate: kept by the standard library, refused by orjson
        b'{"a": 1, "a": 2}',
        b"[0.1, -0.0, 1.0, 1e-7, 5e-324, 1.7976931348623157e308]",
        b'{"s": "digits in a string 12345678901234567890"}',
    ],
)
def test_what_orjson_reads_otherwise_is_read_by_the_standard_library(text: bytes) -> None:
    assert same(json_loads(text), json.loads(text))


def test_the_cases_above_are_ones_orjson_alone_gets_wrong() -> None:
    """Else the test above proves nothing about the fallback."""
    assert not same(orjson.loads(b"18446744073709551616"), json.loads(b"18446744073709551616"))
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b"1e400")


def test_text_is_read_too() -> None:
    assert json_loads('{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
