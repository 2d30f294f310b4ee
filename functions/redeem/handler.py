"""Redeem rewards, cancel redemptions, use codes, and read the ledger and open lots."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Response, Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from loyalty.api.app import api_handler, json_response, member_from_token
from loyalty.api.runtime import runtime
from loyalty.domain.ledger import LedgerEntry
from loyalty.errors import Forbidden, NotFound
from loyalty.models import ConsumeRequest, RedemptionRequest
from loyalty.services import redemption
from loyalty.services.views import lot_view, transaction_view, transactions_csv

router = Router()
PROGRAM = "/v1/programs/<program_id>"
MEMBER = PROGRAM + "/members/<member_id>"
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
CSV_PAGE = 100  # ledger entries per Query when exporting a whole ledger


def _transactions(program_id: str, member_id: str, limit: int, cursor: str | None) -> Response[str]:
    rt = runtime()
    entries, next_cursor = rt.store.list_entries(program_id, member_id, limit, cursor)
    if not entries and cursor is None and rt.store.get_member(program_id, member_id) is None:
        raise NotFound("member not found", member_id=member_id)
    return json_response(200, {"transactions": [transaction_view(e) for e in entries], "cursor": next_cursor})


def _redeem(program_id: str, member_id: str, request: RedemptionRequest, key: str | None) -> Response[str]:
    rt = runtime()
    idempotency_key = redemption.require_idempotency_key(key)
    result, created = redemption.redeem(rt.store, rt.program(program_id), member_id, request, idempotency_key, rt.now())
    return json_response(201 if created else 200, result)


def _rewards(program_id: str, member_id: str) -> Response[str]:
    rt = runtime()
    return json_response(200, redemption.rewards_for_member(rt.store, rt.program(program_id), member_id, rt.now()))


@router.get(MEMBER + "/transactions", tags=["ledger"])
def get_transactions(
    program_id: str,
    member_id: str,
    limit: Limit = 20,
    cursor: Cursor = None,
    format: Annotated[Literal["json", "csv"], Query(description="csv: the whole ledger, for support teams")] = "json",
) -> Response[str]:
    if format == "csv":
        return _transactions_csv(program_id, member_id)
    return _transactions(program_id, member_id, limit, cursor)


def _transactions_csv(program_id: str, member_id: str) -> Response[str]:
    """Every page of the ledger, newest first, as one CSV file."""
    rt = runtime()
    entries: list[LedgerEntry] = []
    cursor: str | None = None
    while True:
        page, cursor = rt.store.list_entries(program_id, member_id, CSV_PAGE, cursor)
        entries += page
        if cursor is None:
            break
    if not entries and rt.store.get_member(program_id, member_id) is None:
        raise NotFound("member not found", member_id=member_id)
    filename = f"{program_id}-{member_id}-transactions.csv"
    return Response(
        200, "text/csv", transactions_csv(entries), {"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get(MEMBER + "/lots", tags=["ledger"])
def get_lots(program_id: str, member_id: str, limit: Limit = 50, cursor: Cursor = None) -> Response[str]:
    rt = runtime()
    lots, next_cursor = rt.store.list_open_lots(program_id, member_id, limit, cursor)
    if not lots and cursor is None and rt.store.get_member(program_id, member_id) is None:
        raise NotFound("member not found", member_id=member_id)
    return json_response(200, {"lots": [lot_view(lot) for lot in lots], "cursor": next_cursor})


@router.get(MEMBER + "/rewards", tags=["redeem"])
def get_rewards(program_id: str, member_id: str) -> Response[str]:
    return _rewards(program_id, member_id)


@router.post(MEMBER + "/redemptions", tags=["redeem"])
def post_redemption(
    program_id: str,
    member_id: str,
    request: Annotated[RedemptionRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[str]:
    return _redeem(program_id, member_id, request, idempotency_key)


@router.post(MEMBER + "/redemptions/<redemption_id>/cancel", tags=["redeem"])
def cancel_redemption(program_id: str, member_id: str, redemption_id: str) -> Response[str]:
    rt = runtime()
    result, created = redemption.cancel(rt.store, rt.program(program_id), member_id, redemption_id, rt.now())
    return json_response(201 if created else 200, result)


@router.post(PROGRAM + "/codes/<code>/consume", tags=["redeem"])
def consume_code(program_id: str, code: str, request: Annotated[ConsumeRequest, Body()]) -> Response[str]:
    rt = runtime()
    result, _ = redemption.consume_code(rt.store, program_id, code, request.order_id, rt.now())
    return json_response(200, result)


def _me() -> tuple[str, str]:
    program_id, member_id = member_from_token(router)
    member = runtime().store.get_member(program_id, member_id)
    if member is None or member.erased:
        raise Forbidden("this member cannot use the program")
    return program_id, member_id


@router.get("/v1/me/transactions", tags=["me"])
def get_my_transactions(limit: Limit = 20, cursor: Cursor = None) -> Response[str]:
    return _transactions(*_me(), limit, cursor)


@router.get("/v1/me/rewards", tags=["me"])
def get_my_rewards() -> Response[str]:
    return _rewards(*_me())


@router.post("/v1/me/redemptions", tags=["me"])
def post_my_redemption(
    request: Annotated[RedemptionRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[str]:
    return _redeem(*_me(), request, idempotency_key)


lambda_handler = api_handler(router)
