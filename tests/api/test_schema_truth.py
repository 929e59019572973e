"""The schema tells the truth at its edges: what schemathesis found, each pinned here (tests/api/test_schemathesis_cli
runs the whole search)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.accounts import registration, sign_up

pytestmark = pytest.mark.parametrize("profile_settings", ["embedded"], indirect=True)


async def test_a_405_names_every_method_the_path_serves(client: httpx.AsyncClient) -> None:
    answer = await client.put("/posts/01M8XMEXABT7KWVCQSWAHCB8CT")
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "DELETE, GET, PATCH"  # three routes share the path
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "allowed: DELETE, GET, PATCH" in answer.json()["detail"]


async def test_a_body_that_is_not_utf8_is_a_validation_error_not_an_undocumented_400(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/auth/register", content=b'{"email": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert "not readable as JSON" in answer.json()["detail"]


async def test_a_url_of_exactly_the_maximum_length_is_kept_as_sent(client: httpx.AsyncClient) -> None:
    url = "https://" + "a" * (2048 - len("https://") - len(".io")) + ".io"  # no path: "/" would make it 2,049
    body = registration(avatar_url=url)
    created = await client.post("/auth/register", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["profile"]["avatar_url"] == url


@pytest.mark.parametrize("amount", [5e-324, 25, "25.001", "0.00", "1000000.01", "1e3", " 25.00"])
async def test_amounts_are_decimal_strings_within_the_rule(client: httpx.AsyncClient, amount: object) -> None:
    user = await sign_up(client)
    answer = await client.post("/wallet/deposits", json={"amount": amount}, headers=user.auth)
    assert answer.status_code == 422, answer.text
    assert 'an amount is a string such as "25.00"' in answer.json()["detail"]


async def test_a_birthdate_is_an_iso_string_not_a_number(client: httpx.AsyncClient) -> None:
    answer = await client.post("/auth/register", json=registration(birthdate=3.4e-199))
    assert answer.status_code == 422
    assert "ISO 8601" in answer.json()["detail"]


async def test_ids_beyond_what_json_clients_read_exactly_are_refused_as_the_schema_says(
    client: httpx.AsyncClient,
) -> None:
    user = await sign_up(client)
    answer = await client.post("/cart/items", json={"product_id": 2**53, "quantity": 1}, headers=user.auth)
    assert answer.status_code == 422
    assert "less than or equal to 9007199254740991" in answer.json()["detail"]


async def test_null_where_the_schema_does_not_allow_it_is_refused(client: httpx.AsyncClient) -> None:
    user = await sign_up(client)
    answer = await client.patch(f"/users/{user.user_id}/profile", json={"name": None}, headers=user.auth)
    assert answer.status_code == 422
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["ProfileUpdate"]["properties"]
    assert "anyOf" not in schema["name"]  # not nullable in the schema either
    assert {"type": "null"} in schema["avatar_url"]["anyOf"]  # null removes the avatar


@pytest.mark.parametrize(("product_id", "accepted"), [(2.0, True), ("2", False), (True, False), (2.5, False)])
async def test_an_integer_is_what_json_schema_calls_one(
    client: httpx.AsyncClient, product_id: object, accepted: bool
) -> None:
    user = await sign_up(client)
    answer = await client.post("/cart/items", json={"product_id": product_id, "quantity": 1}, headers=user.auth)
    if accepted:
        assert answer.status_code in (200, 404), answer.text  # a number with no fraction: read (no such product)
    else:
        assert answer.status_code == 422, answer.text


async def test_every_bound_is_written_as_json_schema_reads_it(client: httpx.AsyncClient) -> None:
    """pydantic writes a bound it cannot translate (one behind a validator) as "ge"/"le", which no validator reads:
    the schema would then allow what the API refuses."""
    untranslated: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            untranslated.extend(f"{where}.{k}" for k in ("ge", "le", "gt", "lt") if k in node)
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk((await client.get("/openapi.json")).json(), "openapi")
    assert not untranslated, untranslated


async def test_every_operation_has_a_written_summary_and_the_right_security(client: httpx.AsyncClient) -> None:
    """No summary made up from a function name, and a bearer token asked for exactly where a session is needed."""
    from polysocial.api.app import ROUTERS
    from tests.support.routes import PUBLIC

    written = {
        (method.lower(), route.path)
        for router in ROUTERS
        for route in router.routes
        if getattr(route, "summary", None)
        for method in getattr(route, "methods", ())
    }
    schema = (await client.get("/openapi.json")).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert (method, path) in written, f"{method.upper()} {path} has no written summary"
            security = operation.get("security")
            if (method.upper(), path) in PUBLIC:
                assert security in (None, [{}, {"HTTPBearer": []}]), (method, path, security)
            else:
                assert security == [{"HTTPBearer": []}], (method, path, security)
