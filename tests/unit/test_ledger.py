"""The ledger arithmetic: points for an amount, lots, credits and tier crossing, and which lots pay for a spend."""

from __future__ import annotations

import base64
import copy
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty.domain.ledger import (
    Lot,
    Spend,
    credit,
    new_lot,
    points_for_amount,
    request_hash,
    spend_soonest_expiring_first,
)
from loyalty.errors import InsufficientPoints
from tests.unit.factories import T0, lot, member, program, standard_tiers, tier, utc

# --- qualifying points ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buckets", "now", "window_days", "expected"),
    [
        pytest.param({}, utc(2025, 6, 15), 365, 0, id="no-earns"),
        pytest.param({"2025-06": 100, "2025-01": 50}, utc(2025, 6, 15), 365, 150, id="all-inside"),
        pytest.param(
            {"2024-06": 10, "2024-05": 1_000}, utc(2025, 6, 15), 365, 0, id="month-partly-before-window-does-not-count"
        ),
        pytest.param({"2024-06": 10, "2024-05": 1_000}, utc(2025, 6, 1), 365, 10, id="window-opening-on-the-1st"),
        pytest.param({"2025-05": 10, "2025-06": 20}, utc(2025, 6, 15), 30, 20, id="thirty-day-window"),
        pytest.param({"2025-04": 10, "2025-06": 20}, utc(2025, 6, 15), 30, 20, id="thirty-day-window-drops-april"),
        pytest.param({"2023-12": 500, "2024-12": 5}, utc(2025, 1, 10), 365, 5, id="across-new-year"),
    ],
)
def test_given_monthly_qualifying_buckets_then_only_months_inside_the_tier_window_count(
    buckets: dict[str, int], now: datetime, window_days: int, expected: int
) -> None:
    assert member(qualifying=buckets).qualifying_points(now, window_days) == expected


# --- points for an amount -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "earn_rate", "rounding", "tier_id", "expected"),
    [
        pytest.param("12.99", {"points": 1, "per_amount": 1}, "floor", None, 12, id="floor-drops-cents"),
        pytest.param("12.99", {"points": 1, "per_amount": 1}, "round", None, 13, id="round-up-from-point-99"),
        pytest.param("12.49", {"points": 1, "per_amount": 1}, "round", None, 12, id="round-down-below-half"),
        pytest.param("12.50", {"points": 1, "per_amount": 1}, "round", None, 13, id="round-half-up"),
        pytest.param("12.01", {"points": 1, "per_amount": 1}, "ceil", None, 13, id="ceil-any-fraction"),
        pytest.param("12.00", {"points": 1, "per_amount": 1}, "ceil", None, 12, id="ceil-whole-stays"),
        pytest.param("24.99", {"points": 1, "per_amount": 5}, "floor", None, 4, id="one-point-per-five"),
        pytest.param("25.00", {"points": 1, "per_amount": 5}, "floor", None, 5, id="one-point-per-five-exact"),
        pytest.param("3.45", {"points": 10, "per_amount": 1}, "floor", None, 34, id="ten-points-per-unit"),
        pytest.param("100", {"points": 3, "per_amount": "0.5"}, "floor", None, 600, id="fractional-per-amount"),
        pytest.param("100", {"points": 1, "per_amount": 1}, "floor", "silver", 125, id="silver-multiplier"),
        pytest.param("99", {"points": 1, "per_amount": 1}, "floor", "gold", 148, id="gold-multiplier-floors"),
        pytest.param("99", {"points": 1, "per_amount": 1}, "ceil", "gold", 149, id="gold-multiplier-ceils"),
        pytest.param("100", {"points": 1, "per_amount": 1}, "floor", "retired", 100, id="unknown-tier-is-x1"),
        pytest.param("0", {"points": 1, "per_amount": 1}, "ceil", "gold", 0, id="zero-amount"),
        pytest.param("0.99", {"points": 1, "per_amount": 1}, "floor", None, 0, id="below-one-point"),
        pytest.param("100", {"points": 0, "per_amount": 1}, "ceil", None, 0, id="rate-of-zero"),
        pytest.param("-50", {"points": 1, "per_amount": 1}, "floor", None, 0, id="negative-amount-never-negative"),
        pytest.param("-0.5", {"points": 1, "per_amount": 1}, "floor", None, 0, id="negative-fraction-floors-to-zero"),
    ],
)
def test_given_an_amount_then_points_are_amount_times_rate_times_tier_multiplier_rounded_per_program(
    amount: str, earn_rate: dict[str, Any], rounding: str, tier_id: str | None, expected: int
) -> None:
    config = program(earn_rate=earn_rate, rounding=rounding, tiers=standard_tiers())

    assert points_for_amount(config, Decimal(amount), tier_id) == expected


@pytest.mark.parametrize(
    ("amount", "per_amount", "multiplier", "rounding", "expected"),
    [
        pytest.param("10", "3", "3", "floor", 10, id="floor-10-at-1-per-3-times-3"),
        pytest.param("4", "3", "6", "floor", 8, id="floor-4-at-1-per-3-times-6"),
        pytest.param("20", "6", "3", "floor", 10, id="floor-20-at-1-per-6-times-3"),
        pytest.param("5", "3", "3", "ceil", 5, id="ceil-5-at-1-per-3-times-3"),
    ],
)
def test_given_a_rate_and_multiplier_whose_product_is_whole_then_rounding_neither_loses_nor_adds_a_point(
    amount: str, per_amount: str, multiplier: str, rounding: str, expected: int
) -> None:
    config = program(
        earn_rate={"points": 1, "per_amount": per_amount},
        rounding=rounding,
        tiers={"vip": tier(0, multiplier)},
    )

    assert points_for_amount(config, Decimal(amount), "vip") == expected


# --- new lots -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pending_days", [0, 1, 14])
def test_given_pending_days_then_a_new_lot_becomes_available_that_many_days_after_the_earn(pending_days: int) -> None:
    config = program(pending_days=pending_days, expiry={"policy": "rolling", "days": 365})
    occurred_at = utc(2025, 3, 10, 8, 15)

    created = new_lot(config, "lot-1", "order#o-1", 250, occurred_at, None)

    assert created == Lot(
        lot_id="lot-1",
        source="order#o-1",
        points=250,
        remaining=250,
        earned_at=occurred_at,
        available_at=occurred_at + timedelta(days=pending_days),
        expires_at=occurred_at + timedelta(days=365),
    )


@pytest.mark.parametrize(
    ("expiry", "tier_id", "expected"),
    [
        pytest.param({"policy": "never"}, None, None, id="never"),
        pytest.param({"policy": "rolling", "days": 30}, None, utc(2025, 2, 27), id="rolling"),
        pytest.param({"policy": "rolling", "days": 30}, "gold", utc(2025, 1, 29), id="rolling-tier-override"),
        pytest.param({"policy": "end_of_period", "period": "month"}, None, utc(2025, 2, 1), id="end-of-month"),
        pytest.param({"policy": "inactivity", "days": 30}, None, None, id="inactivity"),
    ],
)
def test_given_an_expiry_policy_then_a_new_lot_carries_the_policys_expiry_date(
    expiry: dict[str, Any], tier_id: str | None, expected: datetime | None
) -> None:
    config = program(expiry=expiry, tiers={"gold": tier(0, expiry_days=1)})

    assert new_lot(config, "lot-1", "order#o-1", 10, utc(2025, 1, 28), tier_id).expires_at == expected


# --- credits --------------------------------------------------------------------------------------


def test_given_an_available_lot_then_a_credit_adds_to_balance_lifetime_and_the_earn_months_bucket() -> None:
    config = program()
    before = member(balance=100, pending=20, lifetime_points=500, qualifying={"2025-05": 300})
    earned = new_lot(config, "lot-1", "order#o-1", 50, T0, None)

    after, reached = credit(before, config, earned, T0)

    assert (after.balance, after.pending, after.lifetime_points) == (150, 20, 550)
    assert after.qualifying == {"2025-05": 300, "2025-06": 50}
    assert after.last_activity_at == T0
    assert reached is None


def test_given_a_lot_still_pending_then_a_credit_adds_to_pending_not_to_the_spendable_balance() -> None:
    config = program(pending_days=14)
    before = member(balance=100, lifetime_points=100)
    earned = new_lot(config, "lot-1", "order#o-1", 50, T0, None)

    after, _ = credit(before, config, earned, T0)

    assert (after.balance, after.pending, after.lifetime_points) == (100, 50, 150)
    assert after.qualifying == {"2025-06": 50}


def test_given_a_backdated_earn_whose_pending_time_is_over_then_the_credit_goes_straight_to_the_balance() -> None:
    config = program(pending_days=14)
    earned = new_lot(config, "lot-1", "order#o-1", 50, T0 - timedelta(days=14), None)

    after, _ = credit(member(), config, earned, T0)

    assert (after.balance, after.pending) == (50, 0)


def test_given_a_credit_then_the_member_passed_in_is_left_unchanged() -> None:
    config = program(tiers=standard_tiers())
    before = member(tier="bronze", balance=900, qualifying={"2025-06": 900})
    snapshot = copy.deepcopy(before)

    credit(before, config, new_lot(config, "lot-1", "order#o-1", 200, T0, None), T0)

    assert before == snapshot


def test_given_old_qualifying_months_then_a_credit_prunes_buckets_outside_the_tier_window() -> None:
    config = program(tier_window_days=365)
    before = member(qualifying={"2024-01": 10, "2024-05": 20, "2024-06": 30, "2025-01": 40})

    after, _ = credit(before, config, new_lot(config, "lot-1", "order#o-1", 5, T0, None), T0)

    assert after.qualifying == {"2024-06": 30, "2025-01": 40, "2025-06": 5}


def test_given_an_earn_dated_before_the_tier_window_then_it_counts_for_lifetime_but_not_for_tiers() -> None:
    config = program(tiers=standard_tiers(), tier_window_days=365)
    before = member(tier="bronze")

    after, reached = credit(before, config, new_lot(config, "lot-1", "order#o-1", 9_000, utc(2024, 1, 5), None), T0)

    assert after.lifetime_points == 9_000
    assert after.qualifying == {}
    assert (after.tier, reached) == ("bronze", None)


@pytest.mark.parametrize(
    ("tier_before", "qualifying_before", "earned", "tier_after", "reached"),
    [
        pytest.param("bronze", 900, 99, "bronze", None, id="one-point-short-of-silver"),
        pytest.param("bronze", 900, 100, "silver", "silver", id="exactly-reaches-silver"),
        pytest.param("bronze", 900, 4_100, "gold", "gold", id="skips-silver-to-gold"),
        pytest.param("silver", 4_000, 500, "silver", None, id="silver-stays-silver"),
        pytest.param("silver", 4_999, 1, "gold", "gold", id="silver-to-gold"),
        pytest.param("gold", 0, 10, "gold", None, id="gold-never-lowered-by-earning"),
        pytest.param(None, 0, 10, "bronze", "bronze", id="untiered-member-enters-entry-tier"),
        pytest.param("retired", 0, 10, "bronze", "bronze", id="unknown-tier-moves-into-a-real-one"),
    ],
)
def test_given_a_credit_then_the_member_moves_up_to_the_tier_their_qualifying_points_reach_and_never_down(
    tier_before: str | None, qualifying_before: int, earned: int, tier_after: str, reached: str | None
) -> None:
    config = program(tiers=standard_tiers())
    before = member(tier=tier_before, qualifying={"2025-06": qualifying_before} if qualifying_before else {})

    after, got = credit(before, config, new_lot(config, "lot-1", "order#o-1", earned, T0, None), T0)

    assert (after.tier, got) == (tier_after, reached)


def test_given_qualifying_points_that_fell_out_of_the_window_then_they_do_not_help_cross_a_tier() -> None:
    config = program(tiers=standard_tiers(), tier_window_days=365)
    before = member(tier="bronze", qualifying={"2024-05": 900, "2025-06": 50})

    after, reached = credit(before, config, new_lot(config, "lot-1", "order#o-1", 100, T0, None), T0)

    assert (after.tier, reached) == ("bronze", None)


def test_given_pending_points_then_they_still_count_towards_the_tier() -> None:
    config = program(tiers=standard_tiers(), pending_days=30)
    before = member(tier="bronze", qualifying={"2025-06": 900})

    after, reached = credit(before, config, new_lot(config, "lot-1", "order#o-1", 100, T0, None), T0)

    assert (after.pending, after.tier, reached) == (100, "silver", "silver")


def test_given_a_program_without_tiers_then_a_credit_reaches_no_tier() -> None:
    config = program()

    after, reached = credit(member(), config, new_lot(config, "lot-1", "order#o-1", 10**6, T0, None), T0)

    assert (after.tier, reached) == (None, None)


# --- spending: which lots pay ---------------------------------------------------------------------

NOW = utc(2025, 6, 15, 12)


def spends_as_tuples(spends: list[Spend]) -> list[tuple[str, int, int]]:
    return [(spend.lot_id, spend.points, spend.remaining_before) for spend in spends]


def test_given_lots_with_different_expiries_then_the_soonest_expiring_lot_is_spent_first() -> None:
    lots = [
        lot("late", 100, expires_at=utc(2025, 12, 31)),
        lot("soon", 30, expires_at=utc(2025, 7, 1)),
        lot("forever", 500, expires_at=None),
        lot("middle", 50, expires_at=utc(2025, 9, 30)),
    ]

    spends = spend_soonest_expiring_first(lots, 100, NOW)

    assert spends_as_tuples(spends) == [("soon", 30, 30), ("middle", 50, 50), ("late", 20, 100)]


def test_given_a_spend_that_fits_the_first_lot_then_only_that_lot_pays() -> None:
    lots = [lot("a", 100, expires_at=utc(2025, 7, 1)), lot("b", 100, expires_at=utc(2025, 8, 1))]

    assert spends_as_tuples(spend_soonest_expiring_first(lots, 40, NOW)) == [("a", 40, 100)]


def test_given_a_spend_that_exactly_drains_a_lot_then_the_next_lot_is_not_touched() -> None:
    lots = [lot("a", 100, expires_at=utc(2025, 7, 1)), lot("b", 100, expires_at=utc(2025, 8, 1))]

    assert spends_as_tuples(spend_soonest_expiring_first(lots, 100, NOW)) == [("a", 100, 100)]


def test_given_never_expiring_lots_then_they_are_spent_last_oldest_first() -> None:
    lots = [
        lot("forever-new", 10, expires_at=None, earned_at=utc(2025, 5, 1)),
        lot("forever-old", 10, expires_at=None, earned_at=utc(2024, 5, 1)),
        lot("dated-far", 10, expires_at=utc(2099, 1, 1), earned_at=utc(2025, 6, 1)),
    ]

    spends = spend_soonest_expiring_first(lots, 30, NOW)

    assert [spend.lot_id for spend in spends] == ["dated-far", "forever-old", "forever-new"]


def test_given_lots_expiring_at_the_same_moment_then_the_older_earn_pays_first_then_the_lower_lot_id() -> None:
    same = utc(2025, 12, 31)
    lots = [
        lot("lot-c", 10, expires_at=same, earned_at=utc(2025, 2, 1)),
        lot("lot-b", 10, expires_at=same, earned_at=utc(2025, 1, 1)),
        lot("lot-a", 10, expires_at=same, earned_at=utc(2025, 2, 1)),
    ]

    spends = spend_soonest_expiring_first(lots, 30, NOW)

    assert [spend.lot_id for spend in spends] == ["lot-b", "lot-a", "lot-c"]


@pytest.mark.parametrize(
    "unspendable",
    [
        pytest.param(lot("x", 0, points=50, expires_at=utc(2025, 6, 20)), id="empty"),
        pytest.param(
            lot("x", 50, expires_at=utc(2025, 6, 20), available_at=NOW + timedelta(seconds=1)), id="still-pending"
        ),
        pytest.param(lot("x", 50, expires_at=NOW), id="expires-this-instant"),
        pytest.param(lot("x", 50, expires_at=NOW - timedelta(days=1)), id="expired"),
    ],
)
def test_given_an_empty_pending_or_expired_lot_then_it_never_pays_even_if_it_expires_soonest(
    unspendable: Lot,
) -> None:
    lots = [unspendable, lot("ok", 100, expires_at=utc(2025, 12, 31))]

    assert spends_as_tuples(spend_soonest_expiring_first(lots, 60, NOW)) == [("ok", 60, 100)]


def test_given_a_lot_that_became_available_this_instant_then_it_pays() -> None:
    lots = [lot("fresh", 10, expires_at=utc(2025, 7, 1), earned_at=NOW - timedelta(days=14), available_at=NOW)]

    assert spends_as_tuples(spend_soonest_expiring_first(lots, 10, NOW)) == [("fresh", 10, 10)]


def test_given_a_partly_spent_lot_then_it_pays_from_what_remains_and_reports_that_as_remaining_before() -> None:
    lots = [lot("a", 30, points=100, expires_at=utc(2025, 7, 1)), lot("b", 80, expires_at=utc(2025, 8, 1))]

    assert spends_as_tuples(spend_soonest_expiring_first(lots, 50, NOW)) == [("a", 30, 30), ("b", 20, 80)]


def test_given_a_spend_then_each_spend_names_the_lots_source_so_a_cancel_can_find_it() -> None:
    spends = spend_soonest_expiring_first([lot("a", 30, expires_at=None)], 10, NOW)

    assert spends == [Spend(lot_id="a", source="order#a", points=10, remaining_before=30)]


def test_given_a_spend_then_the_lots_themselves_are_not_changed() -> None:
    lots = [lot("a", 30, expires_at=utc(2025, 7, 1)), lot("b", 80, expires_at=None)]
    snapshot = copy.deepcopy(lots)

    spend_soonest_expiring_first(lots, 50, NOW)

    assert lots == snapshot


@pytest.mark.parametrize("points", [0, -10])
def test_given_nothing_to_spend_then_no_lot_pays_even_without_points(points: int) -> None:
    assert spend_soonest_expiring_first([], points, NOW) == []


@pytest.mark.parametrize(
    ("lots", "points", "available"),
    [
        pytest.param([], 1, 0, id="no-lots"),
        pytest.param([lot("a", 99, expires_at=None)], 100, 99, id="one-short"),
        pytest.param(
            [
                lot("a", 50, expires_at=None),
                lot("pending", 500, expires_at=None, available_at=NOW + timedelta(days=1)),
                lot("expired", 500, expires_at=NOW - timedelta(seconds=1)),
            ],
            100,
            50,
            id="pending-and-expired-do-not-count",
        ),
    ],
)
def test_given_fewer_spendable_points_than_asked_then_the_spend_is_refused_with_required_and_available(
    lots: list[Lot], points: int, available: int
) -> None:
    with pytest.raises(InsufficientPoints) as refused:
        spend_soonest_expiring_first(lots, points, NOW)

    assert refused.value.details == {"required": points, "available": available}
    assert refused.value.code == "insufficient_points"
    assert refused.value.status == 422


def test_given_exactly_enough_spendable_points_then_the_spend_drains_every_spendable_lot() -> None:
    lots = [lot("a", 30, expires_at=utc(2025, 7, 1)), lot("b", 70, expires_at=None)]

    assert spends_as_tuples(spend_soonest_expiring_first(lots, 100, NOW)) == [("a", 30, 30), ("b", 70, 70)]


# --- request fingerprints -------------------------------------------------------------------------


def test_given_the_same_payload_with_keys_in_another_order_then_the_fingerprint_is_the_same() -> None:
    first = {"amount": "12.50", "order_id": "o-1", "items": [{"sku": "A", "qty": 1}], "meta": {"x": 1, "y": 2}}
    second = {"meta": {"y": 2, "x": 1}, "items": [{"qty": 1, "sku": "A"}], "order_id": "o-1", "amount": "12.50"}

    assert request_hash(first) == request_hash(second)


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"amount": "12.51", "order_id": "o-1"}, id="another-amount"),
        pytest.param({"amount": "12.50", "order_id": "o-2"}, id="another-order"),
        pytest.param({"amount": "12.50"}, id="missing-field"),
        pytest.param({"amount": "12.50", "order_id": "o-1", "note": None}, id="extra-field"),
        pytest.param({"amount": 12.5, "order_id": "o-1"}, id="number-instead-of-string"),
    ],
)
def test_given_a_different_payload_then_the_fingerprint_differs(other: dict[str, Any]) -> None:
    assert request_hash({"amount": "12.50", "order_id": "o-1"}) != request_hash(other)


def test_given_dates_and_decimals_then_the_fingerprint_is_a_stable_128_bit_digest() -> None:
    payload = {"at": utc(2025, 1, 1), "amount": Decimal("1.10")}

    digest = request_hash(payload)

    assert digest == request_hash(dict(reversed(payload.items())))
    assert len(base64.urlsafe_b64decode(digest + "==")) == 16
    assert digest != request_hash({**payload, "amount": Decimal("1.11")})
