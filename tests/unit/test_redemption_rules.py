"""Redemption rules judged from config and profile alone: codes, ids, availability and the shared counter."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from loyalty.domain.program import Reward
from loyalty.errors import LimitReached, LoyaltyError, OutOfStock, RewardInactive
from loyalty.services.redemption import counter_for, new_code, redemption_id_for, shard_with_room, unavailable_reason
from loyalty.store.store import RewardCounter
from tests.unit.factories import member, program, utc

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE = re.compile(rf"^[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}$")
NOW = utc(2025, 6, 15, 12)


def reward(**fields: Any) -> Reward:
    return Reward.model_validate({"name": "Free coffee", "type": "product", "cost": 500, **fields})


# --- codes and ids --------------------------------------------------------------------------------


def test_given_a_thousand_new_codes_then_each_is_four_groups_of_four_from_the_alphabet_and_all_differ() -> None:
    codes = [new_code() for _ in range(1_000)]

    assert all(CODE.match(code) for code in codes), [code for code in codes if not CODE.match(code)][:5]
    assert len(set(codes)) == len(codes)


def test_given_new_codes_then_they_never_contain_characters_misread_at_a_till() -> None:
    letters = set("".join(new_code() for _ in range(1_000)))

    assert letters.isdisjoint({"0", "O", "1", "I"})
    assert letters <= set(ALPHABET) | {"-"}


def test_given_the_same_idempotency_key_then_the_redemption_id_is_the_same_so_a_retry_finds_it() -> None:
    first = redemption_id_for("prog-1", "mem-1", "key-123")

    assert redemption_id_for("prog-1", "mem-1", "key-123") == first
    assert re.fullmatch(r"rd_[a-z2-7]{24}", first)


@pytest.mark.parametrize(
    ("program_id", "member_id", "key"),
    [
        pytest.param("prog-2", "mem-1", "key-123", id="other-program"),
        pytest.param("prog-1", "mem-2", "key-123", id="other-member"),
        pytest.param("prog-1", "mem-1", "key-124", id="other-key"),
        pytest.param("prog-1", "mem-1key-", "123", id="shifted-boundary"),
    ],
)
def test_given_another_program_member_or_key_then_the_redemption_id_differs(
    program_id: str, member_id: str, key: str
) -> None:
    assert redemption_id_for(program_id, member_id, key) != redemption_id_for("prog-1", "mem-1", "key-123")


# --- availability ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "counts", "quantity", "expected"),
    [
        pytest.param({}, {}, 1, None, id="plain-reward-available"),
        pytest.param({"active": False}, {}, 1, RewardInactive, id="inactive"),
        pytest.param({"valid_from": NOW + timedelta(seconds=1)}, {}, 1, RewardInactive, id="not-yet-valid"),
        pytest.param({"valid_from": NOW}, {}, 1, None, id="valid-from-this-instant"),
        pytest.param({"valid_until": NOW}, {}, 1, RewardInactive, id="valid-until-is-exclusive"),
        pytest.param({"valid_until": NOW + timedelta(seconds=1)}, {}, 1, None, id="valid-until-just-after"),
        pytest.param(
            {"valid_from": NOW - timedelta(days=1), "valid_until": NOW + timedelta(days=1)},
            {},
            1,
            None,
            id="inside-validity",
        ),
        pytest.param({"stock": 0}, {}, 1, OutOfStock, id="no-stock"),
        pytest.param({"stock": 2}, {}, 3, OutOfStock, id="more-than-stock"),
        pytest.param({"stock": 3}, {}, 3, None, id="exactly-the-stock"),
        pytest.param({"stock": 10, "limits": {"total": 2}}, {}, 3, OutOfStock, id="total-is-the-tighter-cap"),
        pytest.param({"limits": {"points_budget": 0}}, {}, 1, None, id="budget-is-left-to-the-counter"),
        pytest.param({"limits": {"per_member": 2}}, {"coffee": 1}, 1, None, id="second-of-two"),
        pytest.param({"limits": {"per_member": 2}}, {"coffee": 2}, 1, LimitReached, id="third-of-two"),
        pytest.param({"limits": {"per_member": 2}}, {"coffee": 1}, 2, LimitReached, id="quantity-crosses-limit"),
        pytest.param({"limits": {"per_member": 1}}, {"tea": 5}, 1, None, id="other-rewards-do-not-count"),
        pytest.param({"active": False, "stock": 0}, {}, 1, RewardInactive, id="inactive-wins-over-stock"),
        pytest.param(
            {"stock": 0, "limits": {"per_member": 1}}, {"coffee": 1}, 1, OutOfStock, id="stock-wins-over-limit"
        ),
    ],
)
def test_given_a_reward_and_a_members_history_then_the_reason_they_cannot_redeem_is_the_first_rule_broken(
    fields: dict[str, Any], counts: dict[str, int], quantity: int, expected: type[LoyaltyError] | None
) -> None:
    reason = unavailable_reason(reward(**fields), member(reward_counts=counts), "coffee", quantity, NOW, program())

    if expected is None:
        assert reason is None
    else:
        assert type(reason) is expected
        assert reason.details["reward_id"] == "coffee"


def test_given_a_per_member_limit_reached_then_the_refusal_states_the_limit() -> None:
    reason = unavailable_reason(
        reward(limits={"per_member": 3}), member(reward_counts={"coffee": 3}), "coffee", 1, NOW, program()
    )

    assert isinstance(reason, LimitReached)
    assert reason.details == {"reward_id": "coffee", "limit": 3}
    assert (reason.code, reason.status) == ("limit_reached", 409)


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "now"),
    [
        (utc(2025, 1, 1), utc(2025, 2, 1), utc(2025, 2, 1) - timedelta(microseconds=1)),
        (utc(2025, 1, 1), utc(2025, 2, 1), utc(2025, 1, 1)),
    ],
)
def test_given_validity_dates_then_the_reward_is_available_from_the_first_instant_to_before_the_last(
    valid_from: datetime, valid_until: datetime, now: datetime
) -> None:
    assert (
        unavailable_reason(
            reward(valid_from=valid_from, valid_until=valid_until), member(), "coffee", 1, now, program()
        )
        is None
    )


# --- the shared counter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, None, id="no-caps-no-counter"),
        pytest.param({"limits": {"per_member": 1}}, None, id="per-member-limit-needs-no-shared-counter"),
        # A stock of 5 is split over 5 shards of one unit; shard 0 may sell one.
        pytest.param({"stock": 5}, RewardCounter("coffee", 0, 2, 1_000, 1, None), id="stock"),
        pytest.param({"limits": {"total": 4}}, RewardCounter("coffee", 0, 2, 1_000, 1, None), id="total"),
        pytest.param(
            {"stock": 5, "limits": {"total": 4}}, RewardCounter("coffee", 0, 2, 1_000, 1, None), id="tightest-unit-cap"
        ),
        pytest.param(
            {"limits": {"points_budget": 50_000}},
            RewardCounter("coffee", 0, 2, 1_000, None, 6_250),
            id="points-budget-over-eight-shards",
        ),
        pytest.param(
            {"stock": 0, "limits": {"points_budget": 0}}, RewardCounter("coffee", 0, 2, 1_000, 0, 0), id="zero-caps"
        ),
    ],
)
def test_given_stock_total_or_budget_then_a_redemption_carries_a_share_of_the_rewards_counter(
    fields: dict[str, Any], expected: RewardCounter | None
) -> None:
    assert counter_for("coffee", reward(**fields), 2, 1_000, 0) == expected


@pytest.mark.parametrize("cap", [1, 3, 8, 9, 500, 1_001])
def test_given_any_cap_then_the_shard_shares_add_up_to_it(cap: int) -> None:
    capped = reward(stock=cap, limits={"points_budget": cap * 7})
    shards = capped.counter_shards()

    shares = [capped.shard_caps(n) for n in range(shards)]

    assert 1 <= shards <= 8
    assert sum(units for units, _ in shares) == cap
    assert sum(points for _, points in shares) == cap * 7
    assert all(units >= 1 for units, _ in shares)


def test_given_a_full_shard_then_another_with_room_is_chosen_and_none_when_all_are_full() -> None:
    capped = reward(stock=3)  # three shards of one unit each
    counts = [{"redeemed": 1, "points": 0}, {"redeemed": 0, "points": 0}, {"redeemed": 1, "points": 0}]

    assert shard_with_room(capped, counts, 1, 10) == 1
    assert shard_with_room(capped, [{"redeemed": 1, "points": 0}] * 3, 1, 10) is None
