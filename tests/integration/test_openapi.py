"""GET /v1/openapi.json describes the answers the API gives: the statuses, JSON bodies and the error shape."""

from __future__ import annotations

from typing import Any

from loyalty.models import ErrorResponse
from tests.helpers import Api
from tests.integration.conftest import enroll

P = "/v1/programs/acme"
ERROR = {"$ref": "#/components/schemas/ErrorResponse"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, spec) for path, methods in document["paths"].items() for method, spec in methods.items()]


def test_writes_answer_201_then_200_and_every_body_is_json(api: Api) -> None:
    document = api.get("/v1/openapi.json").body
    for path, method, spec in _operations(document):
        responses = spec["responses"]
        creates = method in ("post", "put") and not path.endswith("/consume")
        assert ("201" in responses) == creates, (method, path)
        for status in ("200", "201") if creates else ("200",):
            assert responses[status]["content"]["application/json"]["schema"] == {"type": "object"}, (path, status)


def test_errors_are_documented_with_the_error_shape(api: Api) -> None:
    document = api.get("/v1/openapi.json").body
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and set(schemas["ErrorResponse"]["required"]) == {"error"}
    for path, method, spec in _operations(document):
        responses = spec["responses"]
        member_route = path.startswith("/v1/me")
        wanted = {"404", "422", "503", "403"} | ({"401"} if member_route else set())
        wanted |= {"409"} if method != "get" else set()
        wanted |= {"400", "413"} if "requestBody" in spec else set()
        errors = {status for status in responses if int(status) >= 400}
        assert errors == wanted, (method, path, errors)
        for status in errors:
            assert responses[status]["content"]["application/json"]["schema"] == ERROR, (path, status)
        assert "Retry-After" in responses["503"]["headers"]


def test_the_answers_match_the_document(api: Api, program: str) -> None:
    """A real 404, 409 and 422 parse as the documented ErrorResponse; enroll answers 201, then 200."""
    created = api.post(f"{P}/members", {"member_id": "m1", "email": "m1@example.com"})
    replayed = api.post(f"{P}/members", {"member_id": "m1", "email": "m1@example.com"})
    assert (created.status, replayed.status) == (201, 200)
    enroll(api, program, "m2")
    refused = [
        api.get(f"{P}/members/nobody"),
        api.post(f"{P}/members", {"member_id": "m3", "email": "m2@example.com"}),
        api.post(f"{P}/members", {"email": 7}),
    ]
    assert [answer.status for answer in refused] == [404, 409, 422]
    for answer in refused:
        ErrorResponse.model_validate(answer.body)
