"""Reports on the local stack: the stream poller feeds the reporter next to the publisher, and the
summary shows earns, redemptions and enrollments a moment later (reports are eventually consistent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
PROGRAM: dict[str, Any] = {"name": "Report Rewards", "currency": "EUR", "point_value": "0.05", "timezone": "UTC"}


def test_after_a_few_earns_the_summary_shows_them(local_stack: RunningStack) -> None:
    api = f"{local_stack.api}/v1/programs/reports-e2e"
    assert requests.put(api, json=PROGRAM, timeout=10).status_code == 201
    reward: dict[str, Any] = {"name": "Coffee", "type": "product", "cost": 100}
    assert requests.put(f"{api}/rewards/coffee", json=reward, timeout=10).status_code == 201
    for member_id in ("rita", "raj"):
        body = {"member_id": member_id, "email": f"{member_id}@example.com"}
        assert requests.post(f"{api}/members", json=body, timeout=10).status_code == 201
    now = datetime.now(UTC)
    for n, (member_id, amount) in enumerate((("rita", 120), ("rita", 30), ("raj", 200))):
        order: dict[str, Any] = {
            "order_id": f"o-{n}",
            "amount": amount,
            "currency": "EUR",
            "occurred_at": now.isoformat(),
        }
        assert requests.post(f"{api}/members/{member_id}/orders", json=order, timeout=10).status_code == 201
    redeemed = requests.post(
        f"{api}/members/raj/redemptions", json={"reward_id": "coffee"}, headers={"Idempotency-Key": "r-1"}, timeout=10
    )
    assert redeemed.status_code == 201
    # Yesterday to tomorrow: the earns may straddle midnight (UTC) while the test runs.
    first, last = (now - timedelta(days=1)).date().isoformat(), (now + timedelta(days=1)).date().isoformat()

    def counted() -> dict[str, Any] | None:
        answer = requests.get(f"{api}/reports/summary", params={"from": first, "to": last}, timeout=10)
        assert answer.status_code == 200, answer.text
        report: dict[str, Any] = answer.json()
        return report if report["issued"] == 350 and report["redeemed"] == 100 else None

    report = eventually(counted, timeout_s=30)
    assert report["enrollments"] == 2 and report["redemptions"] == 1 and report["outstanding"] == 250
    assert report["liability"] == {"amount": 12.5, "currency": "EUR"}
    assert report["top_rewards"] == [{"reward_id": "coffee", "redemptions": 1, "points": 100, "cancelled": 0}]
    assert report["top_rules"] == [{"rule_id": "base_rate", "orders": 3, "points": 350}]
    assert [row["date"] for row in report["daily"]] == [first, now.date().isoformat(), last]
    assert sum(row["issued"] for row in report["daily"]) == 350
    assert sum(row["active_members"] for row in report["daily"]) >= 2
    csv = requests.get(f"{api}/reports/summary", params={"from": first, "to": last, "format": "csv"}, timeout=10)
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("date,issued,redeemed,") and len(lines) == 4
    transactions = requests.get(f"{api}/members/rita/transactions", params={"format": "csv"}, timeout=10)
    assert transactions.status_code == 200 and len(transactions.text.splitlines()) == 3
