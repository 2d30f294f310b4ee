"""200 concurrent redemptions against a limit of 50 give exactly 50, for each kind of limit.

One thread per request over the service the handler calls (see test_exactly_once.py for why);
moto's DynamoDB is serialised as DynamoDB is atomic. A request refused with `conflict` (too many
concurrent changes to one member) is retried by its client with the same Idempotency-Key, as the
error tells it to, until every request has its final answer.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from loyalty.api.runtime import Runtime
from loyalty.errors import LoyaltyError
from loyalty.services import redemption
from loyalty.store.store import LoyaltyStore
from tests.helpers import Answer, Api, ledger_invariant
from tests.integration.conftest import enroll, order, redeem_directly

P = "/v1/programs/acme"
REQUESTS, LIMIT, COST = 200, 50, 10


def _redeem(runtime: Runtime, member_id: str, reward_id: str, key: str) -> Answer:
    """A redemption whose client retries `conflict` with the same key, as the error tells it to."""
    while (answer := redeem_directly(runtime, member_id, reward_id, key)).error_code == "conflict":
        pass
    return answer


def _storm(runtime: Runtime, calls: list[tuple[str, str]], reward_id: str) -> Counter[tuple[int, str | None]]:
    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        answers = list(pool.map(lambda call: _redeem(runtime, call[0], reward_id, call[1]), calls))
    return Counter((a.status, a.error_code) for a in answers)


def _members(api: Api, program: str, count: int, points: int) -> list[str]:
    ids = [f"m{n}" for n in range(count)]
    for member_id in ids:
        enroll(api, program, member_id)
        assert api.post(f"{P}/members/{member_id}/orders", order("o-1", points)).status == 201
    return ids


def _redeemed(store: LoyaltyStore, member_ids: list[str], reward_id: str) -> int:
    entries = [
        item
        for member_id in member_ids
        for item in store.member_items("acme", member_id)
        if item.get("kind") == "redeem" and item["details"]["reward_id"] == reward_id
    ]
    return len(entries)


@pytest.mark.parametrize(
    ("limits", "refusal"),
    [
        pytest.param({"limits": {"total": LIMIT}}, "limit_reached", id="total"),
        pytest.param({"stock": LIMIT}, "out_of_stock", id="stock"),
        pytest.param({"limits": {"points_budget": LIMIT * COST}}, "limit_reached", id="points_budget"),
    ],
)
def test_200_members_at_once_against_a_shared_cap_of_50_get_exactly_50(
    api: Api, program: str, store: LoyaltyStore, runtime: Runtime, limits: dict[str, Any], refusal: str
) -> None:
    assert api.put(f"{P}/rewards/capped", {"name": "Capped", "type": "product", "cost": COST, **limits}).status == 201
    member_ids = _members(api, program, REQUESTS, COST)

    outcome = _storm(runtime, [(member_id, "k") for member_id in member_ids], "capped")

    assert outcome == {(201, None): LIMIT, (409, refusal): REQUESTS - LIMIT}
    assert _redeemed(store, member_ids, "capped") == LIMIT
    counters = store.reward_counters("acme", "capped", runtime.program("acme").rewards["capped"].counter_shards())
    assert sum(c["redeemed"] for c in counters) == LIMIT and sum(c["points"] for c in counters) == LIMIT * COST
    listed = api.get(f"{P}/members/{member_ids[0]}/rewards").body["rewards"]
    assert next(r for r in listed if r["reward_id"] == "capped")["reason"] in (refusal, "insufficient_points")


@pytest.mark.parametrize(
    "limits",
    [
        pytest.param({"per_member": LIMIT}, id="per_member"),
        pytest.param({"per_member": LIMIT, "per_member_period_days": 30}, id="per_member_per_period"),
    ],
)
def test_one_member_sending_200_at_once_with_distinct_keys_against_a_limit_of_50_gets_exactly_50(
    api: Api, program: str, store: LoyaltyStore, runtime: Runtime, limits: dict[str, Any]
) -> None:
    reward = {"name": "Limited", "type": "product", "cost": COST, "limits": limits}
    assert api.put(f"{P}/rewards/limited", reward).status == 201
    (member_id,) = _members(api, program, 1, REQUESTS * COST)

    outcome = _storm(runtime, [(member_id, f"k-{n}") for n in range(REQUESTS)], "limited")

    assert outcome == {(201, None): LIMIT, (409, "limit_reached"): REQUESTS - LIMIT}
    assert _redeemed(store, [member_id], "limited") == LIMIT
    assert ledger_invariant(store, program, member_id)["balance"] == (REQUESTS - LIMIT) * COST


def test_twenty_codes_of_one_exclusivity_group_consumed_at_once_on_one_order_use_exactly_one(
    api: Api, program: str, store: LoyaltyStore, runtime: Runtime
) -> None:
    reward = {"name": "Ten off", "type": "discount", "cost": COST, "value": {"percent": 10}, "exclusivity_group": "d"}
    assert api.put(f"{P}/rewards/ten-off", reward).status == 201
    (member_id,) = _members(api, program, 1, 20 * COST)
    codes = [
        api.post(
            f"{P}/members/{member_id}/redemptions", {"reward_id": "ten-off"}, headers={"Idempotency-Key": f"k{n}"}
        ).body["code"]
        for n in range(20)
    ]

    def consume(code: str) -> tuple[int, str | None]:
        try:
            redemption.consume_code(runtime.store, "acme", code, "basket-1", runtime.now())
        except LoyaltyError as error:
            return error.status, error.code
        return 200, None

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcome = Counter(pool.map(consume, codes))

    assert outcome == {(200, None): 1, (409, "exclusive_conflict"): 19}
    statuses = Counter(item["status"] for item in store.member_items("acme", member_id) if item.get("kind") == "redeem")
    assert statuses == {"consumed": 1, "issued": 19}
