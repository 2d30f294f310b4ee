"""The product over real HTTP on the local stack: the real handlers, moto server, pollers and jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
PROGRAM = {
    "name": "E2E Rewards",
    "currency": "EUR",
    "earn_rate": {"points": 1, "per_amount": 1},
    "expiry": {"policy": "rolling", "days": 365},
    "reminders": {"expiring_days_before": [30, 7]},
}


@pytest.fixture(scope="module")
def stack(local_stack: RunningStack) -> RunningStack:
    api = local_stack.api
    assert requests.put(f"{api}/v1/programs/e2e", json=PROGRAM, timeout=10).status_code == 201
    reward = {"name": "Coffee", "type": "product", "cost": 100}
    assert requests.put(f"{api}/v1/programs/e2e/rewards/coffee", json=reward, timeout=10).status_code == 201
    return local_stack


def _events(stack: RunningStack) -> list[dict[str, Any]]:
    return requests.get(f"{stack.api}/_local/events", timeout=10).json()["events"]


def test_enroll_earn_replay_redeem_cancel_and_list(stack: RunningStack) -> None:
    api = f"{stack.api}/v1/programs/e2e"
    member = requests.post(f"{api}/members", json={"member_id": "ann", "email": "Ann@Example.com"}, timeout=10)
    assert member.status_code == 201 and member.json()["email"] == "ann@example.com"

    body = {"order_id": "o-1", "amount": 250, "currency": "EUR", "occurred_at": datetime.now(UTC).isoformat()}
    earned = requests.post(f"{api}/members/ann/orders", json=body, timeout=10)
    replay = requests.post(f"{api}/members/ann/orders", json=body, timeout=10)
    assert (earned.status_code, replay.status_code) == (201, 200)
    assert replay.json() == earned.json() and earned.json()["points"] == 250

    redeemed = requests.post(
        f"{api}/members/ann/redemptions", json={"reward_id": "coffee"}, headers={"Idempotency-Key": "r1"}, timeout=10
    )
    assert redeemed.status_code == 201 and redeemed.json()["balance"] == 150
    cancelled = requests.post(f"{api}/members/ann/redemptions/{redeemed.json()['redemption_id']}/cancel", timeout=10)
    assert cancelled.status_code == 201 and cancelled.json()["balance"] == 250

    transactions = requests.get(f"{api}/members/ann/transactions", timeout=10).json()["transactions"]
    assert [t["kind"] for t in transactions] == ["cancel", "redeem", "earn"]
    lots = requests.get(f"{api}/members/ann/lots", timeout=10).json()["lots"]
    assert [lot["remaining"] for lot in lots] == [250]

    def published() -> list[str] | None:
        types = [e["detail-type"] for e in _events(stack) if e["detail"].get("member_id") == "ann"]
        return types if len(types) >= 5 else None

    types = eventually(published)
    assert sorted(types) == sorted(
        ["member.enrolled", "points.earned", "points.redeemed", "reward.redeemed", "points.reversed"]
    )


def test_errors_are_json_and_member_routes_need_a_token(stack: RunningStack) -> None:
    api = f"{stack.api}/v1/programs/e2e"
    bad = requests.post(
        f"{api}/members/nobody/orders", data=b"{", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    assert requests.get(f"{stack.api}/v1/me", timeout=10).status_code == 401
    requests.post(f"{api}/members", json={"member_id": "tom", "email": "tom@example.com"}, timeout=10)
    token = requests.post(f"{stack.api}/_local/tokens", json={"member_id": "tom", "program_id": "e2e"}, timeout=10)
    me = requests.get(f"{stack.api}/v1/me", headers={"Authorization": f"Bearer {token.json()['token']}"}, timeout=10)
    assert me.status_code == 200 and me.json()["member_id"] == "tom"
    openapi = requests.get(f"{stack.api}/v1/openapi.json", timeout=10).json()
    assert "/v1/programs/{program_id}/members/{member_id}/orders" in openapi["paths"]


def test_a_poison_message_lands_in_the_dlq_while_the_rest_of_its_batch_is_applied(stack: RunningStack) -> None:
    api = f"{stack.api}/v1/programs/e2e"
    requests.post(f"{api}/members", json={"member_id": "sam", "email": "sam@example.com"}, timeout=10)
    sqs = stack.client("sqs")
    queue, dlq = stack.resource_url("IngestQueue"), stack.info["resources"]["queues"]["IngestQueue"]["dlq_url"]
    now = datetime.now(UTC).isoformat()
    good = [
        {
            "type": "order",
            "program_id": "e2e",
            "member_id": "sam",
            "order_id": f"q-{n}",
            "amount": 10,
            "currency": "EUR",
            "occurred_at": now,
        }
        for n in range(9)
    ]
    poison = {
        "type": "order",
        "program_id": "e2e",
        "member_id": "sam",
        "order_id": "bad",
        "amount": -1,
        "currency": "EUR",
        "occurred_at": now,
    }
    entries = [{"Id": str(n), "MessageBody": json.dumps(body)} for n, body in enumerate([*good, poison])]
    sqs.send_message_batch(QueueUrl=queue, Entries=entries)

    def dead() -> list[dict[str, Any]] | None:
        messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        return messages or None

    dead_letters = eventually(dead, timeout_s=60)
    assert [json.loads(m["Body"])["order_id"] for m in dead_letters] == ["bad"]

    def credited() -> int | None:
        balance: int = requests.get(f"{api}/members/sam", timeout=10).json()["balance"]
        return balance if balance == 90 else None

    assert eventually(credited) == 90


def test_jumping_the_clock_expires_points_and_sends_reminders(stack: RunningStack) -> None:
    api = f"{stack.api}/v1/programs/e2e"
    consent = {"marketing_email": True}
    requests.post(
        f"{api}/members", json={"member_id": "eve", "email": "eve@example.com", "consents": consent}, timeout=10
    )
    earned_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    body = {"order_id": "o-1", "amount": 70, "currency": "EUR", "occurred_at": earned_at.isoformat()}
    assert requests.post(f"{api}/members/eve/orders", json=body, timeout=10).status_code == 201
    expires_at = earned_at + timedelta(days=365)

    reminded = requests.post(
        f"{stack.api}/_local/jobs/reminders",
        json={"now": (expires_at - timedelta(days=7) + timedelta(hours=1)).isoformat()},
        timeout=60,
    )
    swept = requests.post(
        f"{stack.api}/_local/jobs/expiry-sweep", json={"now": (expires_at + timedelta(hours=1)).isoformat()}, timeout=60
    )

    assert reminded.status_code == 200 and reminded.json()["result"]["reminders"] >= 1
    assert swept.status_code == 200
    member = requests.get(f"{api}/members/eve", timeout=10).json()
    assert member["balance"] == 0
    kinds = [t["kind"] for t in requests.get(f"{api}/members/eve/transactions", timeout=10).json()["transactions"]]
    assert kinds == ["expire", "earn"]
    eve = [e["detail-type"] for e in _events(stack) if e["detail"].get("member_id") == "eve"]
    assert "points.expired" in eve and "reminder.points_expiring" in eve
    # The reminder went through the notifier: one email from SES, with eve's points in it.
    notifications = requests.get(f"{stack.api}/_local/notifications", timeout=10).json()["notifications"]
    (email,) = [n for n in notifications if n["to"] == "eve@example.com"]
    assert email["channel"] == "email"
    assert "70" in email["subject"]
    assert "70 of your" in email["body"] and expires_at.date().isoformat() in email["body"]
