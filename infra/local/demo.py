"""The demo program a fresh local stack starts with, seeded through its own HTTP API."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

PROGRAM_ID = "demo"
PROGRAM: dict[str, Any] = {
    "name": "Demo Rewards",
    "currency": "EUR",
    "earn_rate": {"points": 1, "per_amount": 1},
    "rounding": "floor",
    "expiry": {"policy": "rolling", "days": 365},
    "pending_days": 0,
    "tier_window_days": 365,
    "reminders": {"expiring_days_before": [30, 7], "welcome_days_after": [5], "birthday": True},
    "activity_points": {"newsletter": 50, "review": 25},
}
TIERS: dict[str, dict[str, Any]] = {
    "bronze": {"name": "Bronze", "threshold": 0, "earn_multiplier": 1.0},
    "silver": {"name": "Silver", "threshold": 500, "earn_multiplier": 1.25},
    "gold": {"name": "Gold", "threshold": 2000, "earn_multiplier": 1.5, "expiry_days": 540},
}
REWARDS: dict[str, dict[str, Any]] = {
    "coffee": {
        "name": "Free coffee",
        "type": "product",
        "cost": 150,
        "active": True,
        "stock": 1000,
        "limits": {"per_member": 5},
    },
    "ten-off": {
        "name": "10 EUR off",
        "type": "discount",
        "cost": 500,
        "value": {"amount": 10, "currency": "EUR"},
        "active": True,
    },
}
MEMBERS: list[dict[str, Any]] = [
    {
        "member_id": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "country": "DE",
        "consents": {"marketing_email": True},
    },
    {
        "member_id": "bob",
        "email": "bob@example.com",
        "first_name": "Bob",
        "country": "FR",
        "consents": {"marketing_email": False},
    },
    {
        "member_id": "carol",
        "email": "carol@example.com",
        "first_name": "Carol",
        "country": "NL",
        "birthday": "1990-06-15",
        "consents": {"marketing_email": True},
    },
]
# (member, order, days before now): alice ends up with 184 points, enough for a coffee.
ORDERS: list[tuple[str, dict[str, Any], int]] = [
    ("alice", {"order_id": "demo-1", "amount": 120.50, "currency": "EUR"}, 40),
    ("alice", {"order_id": "demo-2", "amount": 64.90, "currency": "EUR"}, 3),
    ("bob", {"order_id": "demo-3", "amount": 35.00, "currency": "EUR"}, 10),
]
REDEMPTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("alice", {"reward_id": "coffee"}, "demo-redemption-1"),  # (member, body, Idempotency-Key)
]


def seed(api_url: str, now: datetime | None = None, timeout_s: float = 30.0) -> bool:
    """Create the demo program unless GET /v1/programs/demo finds it; True if it is there afterwards.

    Every failure is logged and seeding goes on: while handlers are being written, some calls fail.
    """
    import requests

    now = now or datetime.now(UTC)
    program = f"{api_url}/v1/programs/{PROGRAM_ID}"
    session = requests.Session()

    def call(method: str, url: str, body: dict[str, Any] | None = None, **headers: str) -> bool:
        try:
            response = session.request(method, url, json=body, headers=headers, timeout=timeout_s)
        except requests.RequestException as error:
            log.warning("seed: %s %s failed: %s", method, url, error)
            return False
        if response.status_code >= 400:
            log.warning("seed: %s %s answered %s: %s", method, url, response.status_code, response.text[:300])
            return False
        return True

    try:
        existing = session.get(program, timeout=timeout_s).status_code
    except requests.RequestException as error:
        log.warning("seed: cannot reach %s: %s", api_url, error)
        return False
    if existing == 200:
        log.info("seed: program %s already exists", PROGRAM_ID)
        return True
    if existing != 404:
        log.warning("seed: GET %s answered %s; not seeding", program, existing)
        return False

    results = [call("PUT", program, PROGRAM)]
    results += [call("PUT", f"{program}/tiers/{tier_id}", tier) for tier_id, tier in TIERS.items()]
    results += [call("PUT", f"{program}/rewards/{reward_id}", reward) for reward_id, reward in REWARDS.items()]
    results += [call("POST", f"{program}/members", member) for member in MEMBERS]
    for member_id, order, days_ago in ORDERS:
        body = {**order, "occurred_at": (now - timedelta(days=days_ago)).isoformat(timespec="seconds")}
        results.append(call("POST", f"{program}/members/{member_id}/orders", body))
    for member_id, redemption, key in REDEMPTIONS:
        url = f"{program}/members/{member_id}/redemptions"
        results.append(call("POST", url, redemption, **{"Idempotency-Key": key}))
    log.info("seed: %d of %d calls succeeded", sum(results), len(results))
    return all(results)


def curl_examples(api_url: str) -> list[str]:
    """Three commands for the banner that work against the seeded program."""
    program = f"{api_url}/v1/programs/{PROGRAM_ID}"
    json_header = "-H 'Content-Type: application/json'"
    return [
        f"curl -s -X POST {program}/members {json_header} "
        """-d '{"member_id":"dave","email":"dave@example.com","first_name":"Dave"}'""",
        f"curl -s -X POST {program}/members/dave/orders {json_header} "
        """-d '{"order_id":"o-1","amount":250,"currency":"EUR","occurred_at":"'$(date -u +%FT%TZ)'"}'""",
        f"curl -s -X POST {program}/members/dave/redemptions {json_header} -H 'Idempotency-Key: r-1' "
        """-d '{"reward_id":"coffee"}'""",
    ]
