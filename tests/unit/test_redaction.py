"""The log's redaction and JSON lines: the shortcuts taken for speed change no output."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from polysocial.logging import SECRET_TEXT, configure_logging, redact_text

# texts built from the pieces the patterns look for, so the search meets near-misses as well as secrets
PIECES = st.sampled_from(
    [
        "Bearer ", "basic\t", "BASIC ", "password", "PassWord", "pwd", "secret", "access_token", "token",
        "Authorization", "cookie", "://", "://u:", "@", ":", "=", " = ", "'", '"', " ", "x", "s3cret", "db", "/", "?",
        "&", "pas", "tok",
    ]
)  # fmt: skip
KEYWORDS = ["Bearer", "basic", "password", "db_pass", "pwd", "secret", "api_token", "token", "authorization", "cookie"]
# a keyword in any case, a separator, a value: every kind of secret the patterns blank, and near-misses of each
SHAPED = st.builds(
    lambda before, word, upper, sep, value: before + (word.upper() if upper else word) + sep + value,
    st.text(max_size=4),
    st.sampled_from([*KEYWORDS, "scheme"]),
    st.booleans(),
    st.sampled_from(["=", ": ", "='", '": "', " ", "\t", "://u:", "://", "-"]),
    st.text(alphabet="abc@/ :=", max_size=8),
)
TEXTS = st.one_of(st.text(), SHAPED, st.lists(st.one_of(PIECES, SHAPED, st.text(max_size=3)), max_size=8).map("".join))


def every_substitution(text: str) -> str:
    for pattern, replacement in SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


@given(TEXTS)
def test_the_quick_search_skips_only_texts_without_secrets(text: str) -> None:
    assert redact_text(text) == every_substitution(text)


def test_every_keyword_separator_and_case_is_still_searched() -> None:
    """Each keyword the patterns know, in three cases, after each separator, before values of each shape."""
    words = [*KEYWORDS, "scheme", "x"]
    seps = ["=", ": ", "='", '": "', " ", "\t", "://u:", "://", "-", ""]
    values = ["abc", "a@b", "'q w'", "u:p@h", ""]
    texts = [
        before + case(word) + sep + value
        for before in ("", "log ", "db_")
        for word in words
        for case in (str.lower, str.upper, str.title)
        for sep in seps
        for value in values
    ]
    assert [redact_text(t) for t in texts] == [every_substitution(t) for t in texts]
    assert sum(redact_text(t) != t for t in texts) > 500  # most of them do hold a secret


def test_a_plain_text_is_returned_as_it_is() -> None:
    text = "01JABCDEFGHJKMNPQRSTVWXYZ0"
    assert redact_text(text) is text


@pytest.fixture
def json_log(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[[], str]:
    monkeypatch.setenv("POLYSOCIAL_LOG_JSON", "1")
    configure_logging("INFO")
    return lambda: capsys.readouterr().err


def test_a_json_line_holds_what_orjson_refuses(json_log: Callable[[], str]) -> None:
    """orjson writes the line; an integer past 64 bits, keys that are not text and objects JSON has no form for
    still give one line each, as the standard library renders them."""
    structlog.get_logger("t").info("values", big=2**70, keyed={1: "one"}, thing=object(), password="hunter2")
    (line,) = json_log().splitlines()
    fields = json.loads(line)
    assert fields["big"] == 2**70
    assert fields["keyed"] == {"1": "one"}
    assert fields["thing"].startswith("<object object at")
    assert fields["password"] == "***"
    assert fields["event"] == "values"


def test_a_request_line_is_plain_json(json_log: Callable[[], str]) -> None:
    structlog.get_logger("t").info("request", route="/feed", status=200, duration_ms=1.5, user_id=7)
    fields = json.loads(json_log())
    assert {k: fields[k] for k in ("event", "route", "status", "duration_ms", "user_id", "level")} == {
        "event": "request",
        "route": "/feed",
        "status": 200,
        "duration_ms": 1.5,
        "user_id": 7,
        "level": "info",
    }
