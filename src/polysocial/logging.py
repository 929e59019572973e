"""Structured logging (structlog) to stderr: readable on a terminal, one JSON object per line when the output is not
a terminal (a file, a pipe, a log collector). POLYSOCIAL_LOG_JSON=1 or 0 chooses either way.

Secrets never reach the output. Tracebacks are plain (file, line, code), never with local variables: a frame's
locals hold bearer tokens and passwords (structlog's rich tracebacks show them by default). Then ``redact`` blanks
what looks like a secret in every field, the traceback text included: values under secret-sounding keys, bearer
and basic credentials, ``password=`` pairs, and passwords inside URLs.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

MASK = "***"
SECRET_KEY = re.compile(r"(pass(word)?|pwd|secret|token|authorization|cookie|api[_-]?key|credential)", re.IGNORECASE)
SECRET_TEXT = [
    # Authorization: Bearer <token> / Basic <credentials>, in any text
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1 {MASK}"),
    # password=..., token: '...', "access_token": "..." (reprs, query strings, JSON, key=value DSNs)
    (
        re.compile(
            r"""(["']?\b(?:\w*pass(?:word)?|pwd|secret|\w*token|authorization|cookie)\b["']?\s*[=:]\s*)"""
            r"""("[^"]*"|'[^']*'|[^\s,;&)}\]]+)""",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
    # scheme://user:password@host
    (re.compile(r"(://[^:/@\s]*:)[^@/\s]+@"), rf"\1{MASK}@"),
]


# Every match of SECRET_TEXT holds one of these (a keyword, or a URL's "://"): a text without any is returned as it is,
# after one search instead of three substitutions. A request's log line has seven such texts; this made it 3x cheaper.
MAY_HOLD_SECRET = re.compile(r"bearer|basic|pass|pwd|secret|token|authorization|cookie|://", re.IGNORECASE)


def redact_text(text: str) -> str:
    if MAY_HOLD_SECRET.search(text) is None:
        return text
    for pattern, replacement in SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    """Whether a field's name sounds secret; a line's names are nearly always the same few, so the answer is kept."""
    return SECRET_KEY.search(key) is not None


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: blank secrets in every field of the event, whatever logged it."""
    for key, value in list(event.items()):
        if _secret_key(key) and value is not None:
            event[key] = MASK
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


def _stderr_logger(*_: Any) -> structlog.PrintLogger:
    """A logger on standard error as it is now (not as it was at configure time: a test's capture replaces it)."""
    return structlog.PrintLogger(sys.stderr)


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Standard library records (uvicorn, psycopg, the drivers) to standard error as it is now."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _json_line(event: Any, **kw: Any) -> str:
    """One JSON line by orjson (a fifth of the standard library's time; a line is written per request); the standard
    library for what orjson refuses (an integer past 64 bits), so a log call never fails on its fields."""
    try:
        return orjson.dumps(event, default=kw.get("default"), option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(event, **kw)


LOG_JSON_ENV = "POLYSOCIAL_LOG_JSON"
# the renderer configure_logging chose last (the request log renders with it too)
_RENDERER: list[Any] = [structlog.processors.JSONRenderer(serializer=_json_line)]
LOG_LEVEL_ENV = "POLYSOCIAL_LOG_LEVEL"  # the level a process started by a command (a server's worker) logs at


def json_wanted() -> bool:
    chosen = os.environ.get(LOG_JSON_ENV, "").strip()
    if chosen in {"0", "1"}:
        return chosen == "1"
    return not sys.stderr.isatty()


def configure_logging(level: str | None = None) -> None:
    """structlog's loggers, and the standard library's (uvicorn, psycopg, the drivers: they log too, and their
    messages can carry a URL or a header), through the same processors: plain tracebacks, ``redact``, one renderer.
    No ``level``: the one in POLYSOCIAL_LOG_LEVEL, else info."""
    level = level or os.environ.get(LOG_LEVEL_ENV) or "INFO"
    json_output = json_wanted()
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    _RENDERER[0] = renderer
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            structlog.processors.format_exc_info,  # a plain traceback string: no locals
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    handler = _CurrentStderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CurrentStderr)]:
        root.removeHandler(old)
    root.addHandler(handler)
    # Other libraries' info lines (every HTTP request httpx makes, pool events) are noise at our info level; they
    # show from warning up, or everything when debugging.
    wanted = logging.getLevelName(level.upper())
    root.setLevel(wanted if wanted <= logging.DEBUG else max(wanted, logging.WARNING))


class AccessLog:
    """The request log: a line per request, at info whatever the level (``--log-level warning`` quiets the rest,
    not the request log; POLYSOCIAL_ACCESS_LOG=false does), rendered as every other line is. Its fields are ours (a
    validated id, the route's template, numbers), so it skips ``redact``'s regular expressions. In JSON (what a
    server writes when its output is not a terminal) the line is written straight from its fields: the line
    structlog renders, in a third of the time (7 against 21 us, on a request's path). On a terminal, through
    structlog and its console renderer."""

    def __init__(self, name: str) -> None:
        self.name = name
        processors: list[Any] = [
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _render,
        ]
        # not bound here: binding would create the logger now, on the standard error of now (a test's capture
        # replaces it later); the lazy proxy makes one per line, on the standard error of then
        self._structlog: Any = structlog.wrap_logger(
            None, processors=processors, wrapper_class=structlog.make_filtering_bound_logger(logging.INFO)
        )

    def request(self, **fields: Any) -> None:
        if not isinstance(_RENDERER[0], structlog.processors.JSONRenderer):
            self._structlog.info("request", logger=self.name, **fields)
            return
        stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")  # structlog's TimeStamper(fmt="iso", utc=True)
        line = {"logger": self.name, **fields, "event": "request", "level": "info", "timestamp": stamp}
        err = sys.stderr  # as it is now (a test's capture replaces it)
        err.write(_json_line(line) + "\n")
        err.flush()


def _render(logger: Any, name: str, event: MutableMapping[str, Any]) -> Any:
    return _RENDERER[0](logger, name, event)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
