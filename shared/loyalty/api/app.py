"""Shared HTTP pieces: the resolver every API function uses, its error model and its auth checks.

Each function declares its routes on a Powertools `Router` at import (no AWS, no env);
`api_handler` builds the resolver, logger and runtime on the first invocation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.event_handler.api_gateway import APIGatewayRestResolver, Response, Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from loyalty.errors import Forbidden, LoyaltyError, NotFound, Unauthorized, ValidationFailed
from loyalty.logs import logger

MAX_BODY_BYTES = 64 * 1024  # an order with 500 lines fits; anything larger is a mistake or abuse
MEMBER_PREFIX = "/v1/me"
OPENAPI_PATH = "/v1/openapi.json"


def error_response(error: LoyaltyError) -> Response[str]:
    headers = {"Retry-After": str(error.details["retry_after"])} if "retry_after" in error.details else None
    return Response(error.status, "application/json", json.dumps(error.to_body(), default=str), headers)


def json_response(status: int, body: Any) -> Response[str]:
    return Response(status, "application/json", json.dumps(body, default=str))


def _validation_details(errors: Any) -> list[dict[str, Any]]:
    return [
        {"location": [str(part) for part in e.get("loc", ())], "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]


def _check_caller(app: APIGatewayRestResolver, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
    """Admin and integration routes need an IAM caller; /v1/me routes need a member token.

    In AWS, API Gateway enforces both before the function runs; checking again here keeps a
    misconfigured route from exposing data, and is what the local gateway relies on.
    """
    event = app.current_event
    body = event.body or ""
    if len(body.encode()) > MAX_BODY_BYTES:
        return json_response(
            413,
            {
                "error": {
                    "code": "payload_too_large",
                    "message": "the body is too large",
                    "details": {"max_bytes": MAX_BODY_BYTES},
                }
            },
        )
    if body.strip() and body.lstrip()[:1] not in ("{", ""):
        # Powertools would validate the first element of a JSON array as if it were the body.
        try:
            json.loads(body)
        except ValueError:
            pass  # invalid JSON: the validator answers 400
        else:
            return error_response(ValidationFailed("the body must be a JSON object"))
    context = event.request_context
    if event.path == MEMBER_PREFIX or event.path.startswith(MEMBER_PREFIX + "/"):
        claims = (context.authorizer.claims if context.authorizer else None) or {}
        if not claims.get("custom:member_id") or not claims.get("custom:program_id"):
            return error_response(Unauthorized("a member token is required"))
    elif event.path != OPENAPI_PATH and not (context.identity.user_arn or context.identity.caller):
        return error_response(Forbidden("this route needs an IAM-signed request"))
    return next_middleware(app)


def member_from_token(router: Router) -> tuple[str, str]:
    """(program_id, member_id) from the Cognito claims: never from the path or the body."""
    event = cast(APIGatewayProxyEvent, router.current_event)  # a REST API proxy event
    claims = event.request_context.authorizer.claims or {}
    return str(claims["custom:program_id"]), str(claims["custom:member_id"])


def build_resolver(*routers: Router) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    app.use([_check_caller])
    for router in routers:
        app.include_router(router)

    @app.exception_handler(LoyaltyError)
    def _domain_error(error: LoyaltyError) -> Response[str]:
        if error.status >= 500:
            logger().warning("request failed", extra={"code": error.code, "details": error.details})
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response[str]:
        details = _validation_details(error.errors())
        status = 400 if any(d["type"] == "json_invalid" for d in details) else 422
        failed = ValidationFailed("the request is not valid", errors=details)
        return Response(status, "application/json", json.dumps(failed.to_body(), default=str))

    @app.not_found
    def _no_route(_: Exception) -> Response[str]:
        return error_response(NotFound("no such route"))

    @app.exception_handler(Exception)
    def _fault(error: Exception) -> Response[str]:
        logger().exception("unhandled error")
        return json_response(500, {"error": {"code": "internal_error", "message": "internal error", "details": {}}})

    @app.exception_handler(UnicodeDecodeError)
    def _not_text(error: UnicodeDecodeError) -> Response[str]:
        # Powertools decodes the body for the validator (before any middleware of ours runs): a body
        # that is not UTF-8 is refused like one that is not JSON. Any other decoding error is ours.
        try:
            app.current_event.decoded_body  # noqa: B018
        except UnicodeDecodeError:
            failed = ValidationFailed("the body is not UTF-8 text", field="body")
            return Response(400, "application/json", json.dumps(failed.to_body()))
        return _fault(error)

    return app


def api_handler(*routers: Router) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler serving `routers`, built on first use and reused while warm."""
    built: list[APIGatewayRestResolver] = []
    lock = threading.Lock()

    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not built:
            with lock:
                if not built:
                    built.append(build_resolver(*routers))
        log = logger()
        log.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
        return built[0].resolve(event, context)

    return lambda_handler
