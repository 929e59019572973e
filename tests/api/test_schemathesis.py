"""Every endpoint in the OpenAPI schema, fuzzed over real HTTP against the embedded profile.

New endpoints are picked up automatically: the test walks every operation the live schema lists. The checks are
schemathesis's (no 5xx, responses that match the schema, documented status codes and content types) plus our own:
every 4xx is problem+json.

It drives hypothesis through each operation's ``as_strategy()`` rather than ``schemathesis.pytest.from_fixture``,
whose node renaming relies on pytest internals that pytest 9.2 removed (``Function._nodeid``).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.core.result import Err, Ok

from polysocial.config import Settings
from tests.support.live import live_server

EXAMPLES_PER_OPERATION = 60


def test_every_endpoint_honours_its_schema(embedded_settings: Settings) -> None:
    with live_server(embedded_settings) as base_url:
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
        results = list(schema.get_all_operations())
        broken = [result.err() for result in results if isinstance(result, Err)]
        assert not broken, f"operations the schema cannot describe: {broken}"
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert operations, "the schema lists no operation"
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case: Case[Any]) -> None:
                response = case.call_and_validate()
                if 400 <= response.status_code < 500:
                    content_type = str(response.headers.get("content-type", ""))
                    assert content_type.startswith("application/problem+json"), response.text

            try:
                exercise()
            except Exception as exc:
                pytest.fail(f"{operation.label}: {exc}")
