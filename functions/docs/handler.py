"""Serves the OpenAPI document generated from every API function's routes and models."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Response, Router

from functions.admin.handler import router as admin
from functions.earn.handler import router as earn
from functions.enrollment.handler import router as enrollment
from functions.redeem.handler import router as redeem
from functions.reports.handler import router as reports
from loyalty.api.app import MEMBER_PREFIX, OPENAPI_PATH, api_handler, build_resolver
from loyalty.models import ErrorResponse

router = Router()
API_ROUTERS = (admin, enrollment, earn, redeem, reports)
SCHEMAS = "#/components/schemas/"
WRITES = ("post", "put", "patch", "delete")
# POST and PUT apply once (201) and replay the first answer (200); a code is used once and says so (200).
NOT_CREATING = ("/consume",)
ERRORS = {
    400: "The body is not JSON, not UTF-8 text, or not an object",
    401: "A member token is required",
    403: "The caller may not do this (an IAM-signed request, an eligible or active member)",
    404: "No such program, member, reward, redemption, code or route",
    409: "A conflict: taken, already used, an id reused with another payload, or too many concurrent changes",
    413: "The body is too large",
    422: "The request is not valid (error.details.errors says where), or the ledger refuses it",
    503: "DynamoDB throttled or failed: nothing was written, retry after Retry-After seconds with the same id",
}


def openapi_document() -> dict[str, Any]:
    app = build_resolver(*API_ROUTERS)
    document = app.get_openapi_schema(
        title="Loyalty engine API", version="1.0.0", description="Members, points, rewards and reports."
    ).model_dump(mode="json", by_alias=True, exclude_none=True)
    return describe_answers(document)


def describe_answers(document: dict[str, Any]) -> dict[str, Any]:
    """The answers the API gives, in one place rather than on every route.

    Powertools documents what a handler returns (`Response[str]`: a 200 with a string body) and its own
    422 shape; the handlers answer JSON objects, 201 when a write applies first, and errors in the
    shape of `ErrorResponse` (loyalty.errors).
    """
    schema = ErrorResponse.model_json_schema(ref_template=SCHEMAS + "{model}")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(schema.pop("$defs", {}))
    schemas["ErrorResponse"] = schema
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)  # Powertools' 422 shape, which this API does not answer
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            operation["responses"] = _responses(path, method, operation)
    return document


def _responses(path: str, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"application/json": {"schema": {"type": "object"}}}
    if any(parameter.get("name") == "format" for parameter in operation.get("parameters", [])):
        body["text/csv"] = {"schema": {"type": "string"}}
    responses: dict[str, Any] = {}
    if method in ("post", "put") and not path.endswith(NOT_CREATING):
        responses["201"] = {"description": "Applied", "content": body}
        responses["200"] = {"description": "Applied before: the first answer, or the change", "content": body}
    else:
        responses["200"] = {"description": "OK", "content": body}
    statuses = [404, 422, 503]
    statuses += [401, 403] if path == MEMBER_PREFIX or path.startswith(MEMBER_PREFIX + "/") else [403]
    if method in WRITES:
        statuses.append(409)
    if "requestBody" in operation:
        statuses += [400, 413]
    error = {"application/json": {"schema": {"$ref": SCHEMAS + "ErrorResponse"}}}
    for status in sorted(statuses):
        responses[str(status)] = {"description": ERRORS[status], "content": error}
    responses["503"]["headers"] = {
        "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
    }
    return responses


@router.get(OPENAPI_PATH, include_in_schema=False)
def get_openapi() -> Response[dict[str, Any]]:
    return Response(200, "application/json", openapi_document())


lambda_handler = api_handler(router)
