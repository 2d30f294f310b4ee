"""Serves the OpenAPI document generated from every API function's routes and models."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Response, Router

from functions.admin.handler import router as admin
from functions.earn.handler import router as earn
from functions.enrollment.handler import router as enrollment
from functions.redeem.handler import router as redeem
from functions.reports.handler import router as reports
from loyalty.api.app import OPENAPI_PATH, api_handler, build_resolver

router = Router()
API_ROUTERS = (admin, enrollment, earn, redeem, reports)


def openapi_document() -> dict[str, Any]:
    app = build_resolver(*API_ROUTERS)
    return app.get_openapi_schema(
        title="Loyalty engine API", version="1.0.0", description="Members, points, rewards and reports."
    ).model_dump(mode="json", by_alias=True, exclude_none=True)


@router.get(OPENAPI_PATH, include_in_schema=False)
def get_openapi() -> Response[dict[str, Any]]:
    return Response(200, "application/json", openapi_document())


lambda_handler = api_handler(router)
