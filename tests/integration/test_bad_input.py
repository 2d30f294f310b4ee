"""Bad input gets a 4xx with the JSON error body and writes nothing."""

from __future__ import annotations

import json
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
    ("body not UTF-8", "POST", f"{P}/members", {"raw_body": b'{"email": "\xff\xfe@example.com"}'}),
    *[
        (f"{name} (DynamoDB cannot store it)", method, path, {"raw_body": raw})
        for name, method, path, raw in [
            ("empty key in attributes", "POST", f"{P}/members", b'{"email": "a@b.co", "attributes": {"": 1}}'),
            ("empty key deep in attributes", "PATCH", f"{P}/members/m1", b'{"attributes": {"a": [{"b": {"": 1}}]}}'),
            ("empty key in metadata", "POST", ORDERS, json.dumps({**GOOD, "metadata": {"x": {"": "y"}}}).encode()),
            ("tiny number", "POST", f"{P}/members", b'{"email": "a@b.co", "attributes": {"x": 1e-200}}'),
            ("huge number", "PATCH", f"{P}/members/m1", b'{"attributes": {"x": [1e200]}}'),
            ("39 digits", "POST", ORDERS, json.dumps({**GOOD, "metadata": {"n": 10**38 + 1}}).encode()),
            ("NaN", "PATCH", f"{P}/members/m1", b'{"attributes": {"x": NaN}}'),
            ("Infinity", "PATCH", f"{P}/members/m1", b'{"attributes": {"x": {"y": -Infinity}}}'),
        ]
    ],
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


def test_a_body_that_is_not_utf8_is_a_400(api: Api, program: str) -> None:
    answer = api.call("POST", f"{P}/members", raw_body=b'{"email": "\xff\xfe@example.com"}')
    assert (answer.status, answer.error_code) == (400, "validation_error"), answer.body


@pytest.mark.parametrize(
    "attributes",
    [{"": "x"}, {"a": {"": "x"}}, {"a": [{"": 1}]}, {"x": 1e-200}, {"x": 1e200}, {"x": 10**39 + 1}],
    ids=["empty key", "nested empty key", "empty key in a list", "1e-200", "1e200", "40 digits"],
)
def test_what_dynamodb_cannot_store_is_a_422_and_the_member_stays_readable(
    api: Api, program: str, attributes: dict[str, Any]
) -> None:
    """DynamoDB refuses empty attribute names at any depth and numbers beyond 38 digits or 1e126
    (moto would store an empty key, and the member could never be read again)."""
    enroll(api, program, "m1")
    body = {"member_id": "m2", "email": "m2@example.com", "attributes": attributes}
    enrolled = api.post(f"{P}/members", body)
    patched = api.call("PATCH", f"{P}/members/m1", {"attributes": attributes})
    assert (enrolled.status, enrolled.error_code) == (422, "validation_error"), enrolled.body
    assert (patched.status, patched.error_code) == (422, "validation_error"), patched.body
    assert api.get(f"{P}/members/m2").status == 404
    assert api.get(f"{P}/members/m1").status == 200


def test_message_templates_with_an_empty_key_are_refused(api: Api, program: str) -> None:
    settings = api.get(P).body
    body = {k: v for k, v in settings.items() if k not in ("program_id", "tiers", "rewards")}
    templates = {"reminder.points_expiring": {"": {"subject": "s", "body": "b"}}}
    answer = api.put(P, {**body, "notification_templates": templates})
    assert (answer.status, answer.error_code) == (422, "validation_error"), answer.body
    assert api.get(P).body == settings
