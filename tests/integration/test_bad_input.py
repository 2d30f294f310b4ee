"""Bad input gets a 4xx with the JSON error body and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api
from tests.integration.conftest import enroll, order

P = "/v1/programs/acme"
ORDERS = f"{P}/members/m1/orders"
GOOD = order("o-1", 10)


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("missing order_id", "POST", ORDERS, {"body": _without(GOOD, "order_id")}),
    ("missing amount", "POST", ORDERS, {"body": _without(GOOD, "amount")}),
    ("missing occurred_at", "POST", ORDERS, {"body": _without(GOOD, "occurred_at")}),
    ("negative amount", "POST", ORDERS, {"body": {**GOOD, "amount": -5}}),
    ("zero amount", "POST", ORDERS, {"body": {**GOOD, "amount": 0}}),
    ("non-numeric amount", "POST", ORDERS, {"body": {**GOOD, "amount": "ten"}}),
    ("infinite amount", "POST", ORDERS, {"body": {**GOOD, "amount": "Infinity"}}),
    ("unknown currency", "POST", ORDERS, {"body": {**GOOD, "currency": "XYZ"}}),
    ("other currency", "POST", ORDERS, {"body": {**GOOD, "currency": "USD"}}),
    ("lower-case currency", "POST", ORDERS, {"body": {**GOOD, "currency": "eur"}}),
    ("naive timestamp", "POST", ORDERS, {"body": {**GOOD, "occurred_at": "2026-11-20T10:00:00"}}),
    ("future timestamp", "POST", ORDERS, {"body": {**GOOD, "occurred_at": "2027-01-01T00:00:00Z"}}),
    ("unknown field", "POST", ORDERS, {"body": {**GOOD, "points": 1000}}),
    ("order id with spaces", "POST", ORDERS, {"body": {**GOOD, "order_id": "a b"}}),
    ("invalid JSON", "POST", ORDERS, {"raw_body": b'{"order_id": "o-1",'}),
    ("JSON array", "POST", ORDERS, {"body": [GOOD]}),
    ("oversized body", "POST", ORDERS, {"body": {**GOOD, "metadata": {"blob": "x" * 70_000}}}),
    ("unknown member", "POST", f"{P}/members/nobody/orders", {"body": GOOD}),
    ("unknown program", "POST", "/v1/programs/nope/members/m1/orders", {"body": GOOD}),
    (
        "unknown reward",
        "POST",
        f"{P}/members/m1/redemptions",
        {"body": {"reward_id": "nope"}, "headers": {"Idempotency-Key": "k"}},
    ),
    (
        "quantity zero",
        "POST",
        f"{P}/members/m1/redemptions",
        {"body": {"reward_id": "coffee", "quantity": 0}, "headers": {"Idempotency-Key": "k"}},
    ),
    ("bad email", "POST", f"{P}/members", {"body": {"email": "not-an-email"}}),
    ("bad phone", "POST", f"{P}/members", {"body": {"email": "a@b.co", "phone": "12"}}),
    ("bad birthday", "POST", f"{P}/members", {"body": {"email": "a@b.co", "birthday": "1990-13-45"}}),
    ("bad member id", "POST", f"{P}/members", {"body": {"email": "a@b.co", "member_id": "a#b"}}),
    (
        "unknown activity type",
        "POST",
        f"{P}/members/m1/activities",
        {"body": {"activity_id": "a", "type": "x", "occurred_at": "2026-11-20T10:00:00Z"}},
    ),
    ("negative reward cost", "PUT", f"{P}/rewards/r", {"body": {"name": "R", "type": "product", "cost": -1}}),
    ("unknown reward type", "PUT", f"{P}/rewards/r", {"body": {"name": "R", "type": "car", "cost": 1}}),
    ("tier without threshold", "PUT", f"{P}/tiers/t", {"body": {"name": "T"}}),
    ("unknown redemption", "POST", f"{P}/members/m1/redemptions/rd_nope/cancel", {}),
    ("limit too large", "GET", f"{P}/members/m1/transactions", {"query": {"limit": "1000"}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_json_error_and_writes_nothing(
    api: Api, program: str, dynamodb: Any, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    enroll(api, program, "m1")
    before = dynamodb.scan(TableName="LoyaltyTable")["Items"]

    answer = api.call(method, path, **kwargs)

    assert 400 <= answer.status < 500, answer.body
    error = answer.body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] in {"validation_error", "not_found", "payload_too_large"}
    assert isinstance(error["message"], str) and error["message"]
    after = dynamodb.scan(TableName="LoyaltyTable")["Items"]
    assert sorted(map(str, after)) == sorted(map(str, before))


def test_invalid_json_is_a_400_and_schema_errors_are_422(api: Api, program: str) -> None:
    enroll(api, program, "m1")
    assert api.call("POST", ORDERS, raw_body=b"{").status == 400
    assert api.post(ORDERS, {**GOOD, "amount": "ten"}).status == 422
    assert api.post(ORDERS, {**GOOD, "metadata": {"blob": "x" * 70_000}}).status == 413
