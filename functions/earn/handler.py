"""Earn points for orders and activities, claw them back for refunds (201 on the first delivery, 200 on a replay)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Response, Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from loyalty.api.app import api_handler, json_response
from loyalty.api.runtime import runtime
from loyalty.models import ActivityRequest, OrderRequest, RefundRequest
from loyalty.services import earning, refunds

router = Router()
MEMBER = "/v1/programs/<program_id>/members/<member_id>"


@router.post(MEMBER + "/orders", tags=["earn"])
def post_order(program_id: str, member_id: str, order: Annotated[OrderRequest, Body()]) -> Response[str]:
    rt = runtime()
    result, created = earning.earn_for_order(rt.store, rt.program(program_id), member_id, order, rt.now())
    return json_response(201 if created else 200, result)


@router.post(MEMBER + "/activities", tags=["earn"])
def post_activity(program_id: str, member_id: str, activity: Annotated[ActivityRequest, Body()]) -> Response[str]:
    rt = runtime()
    result, created = earning.earn_for_activity(rt.store, rt.program(program_id), member_id, activity, rt.now())
    return json_response(201 if created else 200, result)


@router.post(MEMBER + "/orders/<order_id>/refunds", tags=["earn"])
def post_refund(
    program_id: str, member_id: str, order_id: str, request: Annotated[RefundRequest, Body()]
) -> Response[str]:
    rt = runtime()
    result, created = refunds.refund(rt.store, rt.program(program_id), member_id, order_id, request, rt.now())
    return json_response(201 if created else 200, result)


lambda_handler = api_handler(router)
