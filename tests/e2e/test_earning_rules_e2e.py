"""Earning rules on the local stack: the marketers' two examples, over HTTP, end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e
BERLIN = ZoneInfo("Europe/Berlin")
PROGRAM: dict[str, Any] = {"name": "Rule Rewards", "currency": "EUR", "timezone": "Europe/Berlin"}


def _program(stack: RunningStack, program_id: str) -> str:
    api = f"{stack.api}/v1/programs/{program_id}"
    assert requests.put(api, json=PROGRAM, timeout=10).status_code == 201
    return api


def _enroll(api: str, member_id: str, **extra: Any) -> None:
    body = {"member_id": member_id, "email": f"{member_id}@example.com", **extra}
    assert requests.post(f"{api}/members", json=body, timeout=10).status_code == 201


def _last_monday_in_berlin() -> datetime:
    today = datetime.now(BERLIN).replace(hour=10, minute=0, second=0, microsecond=0)
    return today - timedelta(days=today.weekday() + 7)  # a full week back: always in the past


def test_german_monday_double_points(local_stack: RunningStack) -> None:
    api = _program(local_stack, "rules-e2e-monday")
    rule = {
        "name": "Double points for German customers on Mondays",
        "trigger": "order",
        "condition": 'member.country == "DE" && now.getDayOfWeek() == 1',
        "effect": {"type": "multiplier", "factor": 2},
    }
    assert requests.put(f"{api}/earning-rules/german-monday", json=rule, timeout=10).status_code == 201
    _enroll(api, "jonas", country="DE")
    _enroll(api, "jeanne", country="FR")
    monday = _last_monday_in_berlin()

    def earn(member_id: str, order_id: str, at: datetime) -> list[dict[str, Any]]:
        order = {"order_id": order_id, "amount": 40, "currency": "EUR", "occurred_at": at.isoformat()}
        answer = requests.post(f"{api}/members/{member_id}/orders", json=order, timeout=10)
        assert answer.status_code == 201, answer.text
        rules: list[dict[str, Any]] = answer.json()["applied_rules"]
        return rules

    doubled = [{"rule_id": "base_rate", "points": 40}, {"rule_id": "german-monday", "points": 40}]
    assert earn("jonas", "o-1", monday) == doubled
    assert earn("jeanne", "o-1", monday) == [{"rule_id": "base_rate", "points": 40}]
    assert earn("jonas", "o-2", monday + timedelta(days=1)) == [{"rule_id": "base_rate", "points": 40}]
    # 23:30 UTC on Sunday is already Monday in Berlin: the program's local weekday counts.
    sunday_night_utc = (monday - timedelta(days=1)).astimezone(UTC).replace(hour=23, minute=30)
    assert earn("jonas", "o-3", sunday_night_utc) == doubled
    assert requests.get(f"{api}/members/jonas", timeout=10).json()["balance"] == 200


def test_50_points_for_a_review_capped_at_100_a_month(local_stack: RunningStack) -> None:
    api = _program(local_stack, "rules-e2e-review")
    rule = {
        "name": "50 points for a review",
        "trigger": "activity",
        "activity_type": "review",
        "effect": {"type": "fixed", "points": 50},
        "caps": {"points": 100, "period_days": 30},
    }
    assert requests.put(f"{api}/earning-rules/review", json=rule, timeout=10).status_code == 201
    _enroll(api, "rita")
    now = datetime.now(UTC).replace(microsecond=0)
    given = []
    for n in range(3):
        at = now - timedelta(days=2 - n)
        activity = {"activity_id": f"review-{n}", "activity_type": "review", "occurred_at": at.isoformat()}
        answer = requests.post(f"{api}/members/rita/activities", json=activity, timeout=10)
        assert answer.status_code == 201, answer.text
        given.append([(r["rule_id"], r["points"]) for r in answer.json()["applied_rules"]])
    assert given == [[("review", 50)], [("review", 50)], []]
    assert requests.get(f"{api}/members/rita", timeout=10).json()["balance"] == 100
