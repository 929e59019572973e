"""The request log's line, written straight from its fields in JSON (logging.AccessLog), is the line structlog
renders for them; on a terminal it goes through structlog's console renderer."""

from __future__ import annotations

import json
import re

import pytest

from polysocial.logging import AccessLog, configure_logging

FIELDS = {"request_id": "abc-1", "method": "GET", "route": "/feed", "status": 200, "duration_ms": 1.5, "user_id": None}
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def test_the_json_line_is_the_one_structlog_renders(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLYSOCIAL_LOG_JSON", "1")
    configure_logging("warning")
    log = AccessLog("polysocial.access")
    log.request(**FIELDS)
    log._structlog.info("request", logger="polysocial.access", **FIELDS)
    ours, theirs = capsys.readouterr().err.splitlines()
    assert STAMP.fullmatch(json.loads(ours)["timestamp"])
    assert STAMP.fullmatch(json.loads(theirs)["timestamp"])
    assert ours.split('"timestamp"')[0] == theirs.split('"timestamp"')[0]  # keys, order, values, spacing


def test_on_a_terminal_the_line_is_structlogs_console_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLYSOCIAL_LOG_JSON", "0")
    try:
        configure_logging("warning")
        AccessLog("polysocial.access").request(**FIELDS)
        line = capsys.readouterr().err
        assert not line.startswith("{")
        assert "request" in line
        assert "route=/feed" in line
        assert "status=200" in line
    finally:
        monkeypatch.setenv("POLYSOCIAL_LOG_JSON", "1")
        configure_logging()
