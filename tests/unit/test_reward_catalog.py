"""The rewards catalog judged without AWS: each type's value, cashback points, per-member period limits."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from loyalty.domain.program import Reward, redeemed_in_window, window_entry
from loyalty.errors import LimitReached, ValidationFailed
from loyalty.services.answers import qr_payload, qr_svg
from loyalty.services.redemption import shard_with_room, spread_over_shards, unavailable_reason, window_for
from loyalty.store.store import LoyaltyStore, RewardCounter
from tests.unit.factories import member, program, utc

NOW = utc(2025, 6, 15, 12)


def reward(type_: str, value: dict[str, Any] | None = None, **fields: Any) -> Reward:
    body: dict[str, Any] = {"name": "R", "type": type_, "cost": 100, **fields}
    if value is not None:
        body["value"] = value
    return Reward.model_validate(body)


# --- values per type -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("discount", {"percent": 10}),
        ("discount", {"amount": 5, "currency": "EUR"}),
        ("discount", None),
        ("free_shipping", None),
        ("free_shipping", {"amount": "4.90", "currency": "EUR"}),
        ("gift_card", {"amount": 25, "currency": "EUR"}),
        ("product", None),
        ("cashback", {"amount_per_point": "0.01", "currency": "EUR"}),
        ("cashback", {"amount_per_point": "0.01", "currency": "EUR", "max_points": 1000, "step_points": 100}),
    ],
)
def test_given_a_value_that_fits_the_type_then_the_reward_is_accepted(type_: str, value: dict[str, Any] | None) -> None:
    assert reward(type_, value).type == type_


@pytest.mark.parametrize(
    ("type_", "value", "says"),
    [
        ("discount", {"percent": 10, "amount": 5, "currency": "EUR"}, "not both"),
        ("discount", {"amount": 5}, "currency"),
        ("discount", {"currency": "EUR"}, "currency"),
        ("discount", {"percent": 0}, "greater than 0"),
        ("discount", {"percent": 101}, "less than or equal to 100"),
        ("discount", {"amount_per_point": "0.01", "currency": "EUR"}, "amount_per_point"),
        ("free_shipping", {"percent": 50}, "percent"),
        ("gift_card", {"percent": 10}, "percent"),
        ("gift_card", {"amount": 25, "currency": "euro"}, "pattern"),
        ("product", {"percent": 10}, "percent"),
        ("cashback", None, "amount_per_point"),
        ("cashback", {"amount": 5, "currency": "EUR"}, "amount"),
        ("cashback", {"amount_per_point": "0.01"}, "currency"),
        ("cashback", {"amount_per_point": "0.01", "currency": "EUR", "max_points": 50}, "max_points"),
        ("cashback", {"amount_per_point": "0.01", "currency": "EUR", "max_points": 250, "step_points": 100}, "steps"),
    ],
)
def test_given_a_value_that_does_not_fit_the_type_then_the_reward_is_refused(
    type_: str, value: dict[str, Any] | None, says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        reward(type_, value)


def test_given_a_cashback_reward_then_tier_prices_are_refused() -> None:
    with pytest.raises(ValidationError, match="not by tier"):
        reward("cashback", {"amount_per_point": "0.01", "currency": "EUR"}, tier_costs={"gold": 50})


# --- cashback points -------------------------------------------------------------------------------

CASHBACK = {"amount_per_point": "0.015", "currency": "EUR", "max_points": 500, "step_points": 100}


@pytest.mark.parametrize(("chosen", "points"), [(None, 100), (100, 100), (300, 300), (500, 500)])
def test_given_points_within_the_range_then_they_are_the_price(chosen: int | None, points: int) -> None:
    assert reward("cashback", CASHBACK).points_for("gold", chosen) == points


@pytest.mark.parametrize("chosen", [99, 150, 600])
def test_given_points_off_the_range_or_step_then_the_redemption_is_refused_with_the_range(chosen: int) -> None:
    with pytest.raises(ValidationFailed) as refused:
        reward("cashback", CASHBACK).points_for(None, chosen)
    assert refused.value.details == {"field": "points", "min": 100, "max": 500, "step": 100}


def test_given_points_for_a_reward_that_is_not_cashback_then_the_redemption_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        reward("product").points_for(None, 100)


def test_given_cashback_points_then_the_money_is_points_at_the_rate_rounded_down_to_cents() -> None:
    value = reward("cashback", CASHBACK).value_for(300, 1)
    assert value == {"amount": "4.50", "currency": "EUR", "points": 300}
    odd = reward("cashback", {"amount_per_point": "0.0133", "currency": "EUR", "max_points": 101})
    assert odd.value_for(101, 2) == {"amount": "2.68", "currency": "EUR", "points": 202}  # 2.6866 floored
    assert Decimal(reward("gift_card", {"amount": 25, "currency": "EUR"}).value_for(100, 1)["amount"]) == 25  # type: ignore[index]


# --- per-member period limits ----------------------------------------------------------------------


def test_given_redemptions_then_only_those_inside_the_rolling_window_count() -> None:
    recent = [window_entry(NOW - timedelta(days=31), 1), window_entry(NOW - timedelta(days=29), 2)]

    used, kept = redeemed_in_window(recent, NOW, 30)

    assert used == 2
    assert kept == [recent[1]]


def test_given_a_redemption_exactly_a_period_ago_then_it_no_longer_counts() -> None:
    assert redeemed_in_window([window_entry(NOW - timedelta(days=30), 1)], NOW, 30) == (0, [])


def test_given_one_per_30_days_then_a_second_inside_the_window_is_refused_and_allowed_after() -> None:
    monthly = reward("product", limits={"per_member": 1, "per_member_period_days": 30})
    last = NOW - timedelta(days=10)
    profile = member(reward_counts={"r": 5}, reward_windows={"r": [window_entry(last, 1)]})

    refused = unavailable_reason(monthly, profile, "r", 1, NOW, program())
    later = unavailable_reason(monthly, profile, "r", 1, last + timedelta(days=30), program())

    assert isinstance(refused, LimitReached)
    assert refused.details == {"reward_id": "r", "limit": 1, "period_days": 30}
    assert later is None  # the lifetime count (5) does not matter for a period limit


def test_given_a_period_limit_then_the_window_written_is_pruned_and_holds_this_redemption() -> None:
    monthly = reward("product", limits={"per_member": 2, "per_member_period_days": 30})
    old, recent = window_entry(NOW - timedelta(days=40), 1), window_entry(NOW - timedelta(days=3), 1)
    profile = member(reward_windows={"r": [old, recent]})

    window = window_for(monthly, profile, "r", 1, NOW)

    assert window is not None
    assert window.seen == [old, recent]  # the condition: the entries judged are still the stored ones
    assert window.after == [recent, window_entry(NOW, 1)]
    assert window_for(reward("product", limits={"per_member": 2}), profile, "r", 1, NOW) is None


# --- QR ----------------------------------------------------------------------------------------------


def test_given_a_code_then_the_qr_image_encodes_its_payload_as_an_svg_data_uri() -> None:
    payload = qr_payload("acme", "7KQ2-M9XD-PA4T-W8HC")

    image = qr_svg(payload)

    assert payload == "loyalty:acme:7KQ2-M9XD-PA4T-W8HC"
    assert image.startswith("data:image/svg+xml")
    assert image == qr_svg(payload)  # a replayed redemption shows the very same image


# --- counter shards: a share smaller than a redemption ----------------------------------------------


def test_given_no_single_shard_with_room_then_the_redemption_draws_on_several_and_never_past_the_cap() -> None:
    budgeted = reward("product", limits={"points_budget": 500}, cost=10)  # 8 shares of 62 or 63 points
    counts = [{"redeemed": 6, "points": 60} for _ in range(8)]  # 2 or 3 points left in each: 20 in all

    assert shard_with_room(budgeted, counts, 1, 10) is None
    parts = spread_over_shards(budgeted, counts, 1, 10)
    assert parts == [(0, 1, 3), (1, 0, 3), (2, 0, 3), (3, 0, 1)]
    assert sum(points for _, _, points in parts) == 10
    assert spread_over_shards(budgeted, counts, 1, 21) is None


def test_given_a_change_larger_than_a_fresh_shards_share_then_its_condition_cannot_hold() -> None:
    update = LoyaltyStore("t", client=object())._counter_update("acme", RewardCounter("r", 0, 1, 10, 1, 2), sign=1)[
        "Update"
    ]

    assert "attribute_not_exists(points)" not in update["ConditionExpression"]
    assert "attribute_not_exists(redeemed)" in update["ConditionExpression"]
