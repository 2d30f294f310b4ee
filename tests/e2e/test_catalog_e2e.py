"""The issue's catalog stories over real HTTP on the local stack: a coffee only for gold members,
the first N redemptions only, and one discount code per basket at the till."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

PROGRAM = {"name": "E2E Catalog", "currency": "EUR", "earn_rate": {"points": 1, "per_amount": 1}}
REWARDS: dict[str, dict[str, Any]] = {
    "gold-coffee": {"name": "Coffee", "type": "product", "cost": 50, "eligibility": 'member.tier == "gold"'},
    "first-five": {"name": "Launch mug", "type": "product", "cost": 50, "limits": {"total": 5}},
    "five-off": {
        "name": "5 EUR off",
        "type": "discount",
        "cost": 20,
        "value": {"amount": 5, "currency": "EUR"},
        "exclusivity_group": "basket-discount",
    },
}


@pytest.fixture(scope="module")
def api(local_stack: RunningStack) -> str:
    api = f"{local_stack.api}/v1/programs/catalog"
    assert requests.put(api, json=PROGRAM, timeout=10).status_code == 201
    for tier_id, threshold in (("silver", 0), ("gold", 500)):
        tier = {"name": tier_id.title(), "threshold": threshold}
        assert requests.put(f"{api}/tiers/{tier_id}", json=tier, timeout=10).status_code == 201
    for reward_id, reward in REWARDS.items():
        assert requests.put(f"{api}/rewards/{reward_id}", json=reward, timeout=10).status_code == 201
    return api


def _member(api: str, member_id: str, points: int) -> None:
    assert requests.post(f"{api}/members", json={"member_id": member_id, "email": f"{member_id}@e.com"}, timeout=10).ok
    body = {"order_id": "o-1", "amount": points, "currency": "EUR", "occurred_at": datetime.now(UTC).isoformat()}
    assert requests.post(f"{api}/members/{member_id}/orders", json=body, timeout=10).status_code == 201


def _redeem(api: str, member_id: str, reward_id: str, key: str = "k") -> requests.Response:
    return requests.post(
        f"{api}/members/{member_id}/redemptions",
        json={"reward_id": reward_id},
        headers={"Idempotency-Key": key},
        timeout=10,
    )


def _reason(api: str, member_id: str, reward_id: str) -> str | None:
    rewards = requests.get(f"{api}/members/{member_id}/rewards", timeout=10).json()["rewards"]
    return next(r["reason"] for r in rewards if r["reward_id"] == reward_id)


def test_a_coffee_only_for_gold_members(api: str) -> None:
    _member(api, "silvia", 200)
    _member(api, "goldie", 600)

    refused = _redeem(api, "silvia", "gold-coffee")
    redeemed = _redeem(api, "goldie", "gold-coffee")

    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_eligible")
    assert _reason(api, "silvia", "gold-coffee") == "not_eligible"
    assert redeemed.status_code == 201 and redeemed.json()["qr_svg"].startswith("data:image/svg+xml")
    assert _reason(api, "goldie", "gold-coffee") is None


def test_the_first_five_redemptions_only(api: str) -> None:
    member_ids = [f"early-{n}" for n in range(8)]
    for member_id in member_ids:
        _member(api, member_id, 100)

    answers = [_redeem(api, member_id, "first-five") for member_id in member_ids]

    assert [a.status_code for a in answers] == [201] * 5 + [409] * 3
    assert {a.json()["error"]["code"] for a in answers[5:]} == {"limit_reached"}
    assert _reason(api, member_ids[-1], "first-five") == "limit_reached"


def test_one_discount_code_per_basket_at_the_till(api: str) -> None:
    _member(api, "basket", 100)
    first, second = (_redeem(api, "basket", "five-off", key).json()["code"] for key in ("a", "b"))

    used = requests.post(f"{api}/codes/{first}/consume", json={"order_id": "till-1"}, timeout=10)
    replayed = requests.post(f"{api}/codes/{first}/consume", json={"order_id": "till-1"}, timeout=10)
    refused = requests.post(f"{api}/codes/{second}/consume", json={"order_id": "till-1"}, timeout=10)

    assert used.status_code == 200 and replayed.json() == used.json()
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "exclusive_conflict")
