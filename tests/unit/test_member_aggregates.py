"""What the profile keeps for segments and fraud controls: spend and orders per month, velocity buckets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.domain.ledger import credit, new_lot, velocity_refusal
from tests.unit.factories import member, program, utc

# --- 365-day aggregates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected_spend", "expected_orders"),
    [
        # 365 days before 2026-06-15 is 2025-06-15: June 2025 is partly inside and counts whole.
        pytest.param(utc(2026, 6, 15), Decimal("1110.50"), 7, id="oldest-month-partly-inside-counts"),
        # 365 days before 2026-07-01 is 2025-07-01: June 2025 is wholly outside.
        pytest.param(utc(2026, 7, 1), Decimal("1100.50"), 6, id="month-wholly-outside-drops"),
        pytest.param(utc(2027, 6, 30), Decimal("1000"), 1, id="only-the-last-month-left"),
        pytest.param(utc(2027, 7, 1), Decimal("0"), 0, id="all-outside"),
    ],
)
def test_given_monthly_spend_then_the_365_day_figures_count_months_wholly_or_partly_inside(
    now, expected_spend: Decimal, expected_orders: int
) -> None:
    someone = member(
        spend={
            "2025-05": Decimal("5000"),
            "2025-06": Decimal("10"),
            "2025-12": Decimal("100.50"),
            "2026-06": Decimal("1000"),
        },
        orders={"2025-05": 9, "2025-06": 1, "2025-12": 5, "2026-06": 1},
    )

    assert someone.spend_365d(now) == expected_spend
    assert someone.orders_365d(now) == expected_orders


def test_given_orders_in_several_months_then_credit_adds_each_to_its_month_and_prunes_to_the_window() -> None:
    config = program()
    now = utc(2026, 6, 15, 12)
    someone = member(
        spend={"2025-05": Decimal("70"), "2025-06": Decimal("10"), "2026-06": Decimal("1.25")},
        orders={"2025-05": 1, "2025-06": 1, "2026-06": 1},
    )

    after, _ = credit(
        someone, config, new_lot(config, "l1", "order#o1", 20, utc(2026, 6, 1), None), now, Decimal("20.10")
    )
    after, _ = credit(after, config, new_lot(config, "l2", "order#o2", 5, utc(2026, 3, 9), None), now, Decimal("5"))

    # 2025-05 is older than the window's oldest month (2025-06) and is dropped: 13 months at most.
    assert after.spend == {"2025-06": Decimal("10"), "2026-03": Decimal("5"), "2026-06": Decimal("21.35")}
    assert after.orders == {"2025-06": 1, "2026-03": 1, "2026-06": 2}
    assert after.spend_365d(now) == Decimal("36.35") and after.orders_365d(now) == 4
    assert someone.spend["2026-06"] == Decimal("1.25")  # the member before the credit is untouched


def test_given_an_activity_credit_then_spend_and_orders_do_not_move_but_lifetime_points_do() -> None:
    config = program()
    now = utc(2026, 6, 15)
    before = member(spend={"2026-06": Decimal("3")}, orders={"2026-06": 1}, lifetime_points=10)

    after, _ = credit(before, config, new_lot(config, "l1", "activity#a1", 50, now, None), now)

    assert (after.spend, after.orders, after.lifetime_points) == (before.spend, before.orders, 60)


def test_given_a_late_order_older_than_the_window_then_it_is_credited_but_not_counted() -> None:
    config = program()
    now = utc(2026, 6, 15)

    after, _ = credit(member(), config, new_lot(config, "l1", "order#o1", 9, utc(2025, 1, 3), None), now, Decimal("9"))

    assert after.spend == {} and after.orders == {} and after.lifetime_points == 9


# --- velocity buckets -----------------------------------------------------------------------------


def _earn(someone, config, points: int, now):  # type: ignore[no-untyped-def]
    return credit(someone, config, new_lot(config, f"l{now}", "activity#a", points, now, None), now)[0]


def test_given_earns_then_the_buckets_hold_only_the_current_hour_and_day() -> None:
    config = program()
    someone = member()
    for moment in (utc(2026, 6, 15, 9, 10), utc(2026, 6, 15, 9, 50), utc(2026, 6, 15, 10, 5)):
        someone = _earn(someone, config, 7, moment)

    assert someone.velocity == {"H2026-06-15T10": 1, "D2026-06-15": 21}
    assert _earn(someone, config, 1, utc(2026, 6, 16, 0, 1)).velocity == {"H2026-06-16T00": 1, "D2026-06-16": 1}


def test_given_an_earns_per_hour_cap_then_the_earn_past_it_is_refused_until_the_next_hour() -> None:
    config = program(fraud={"max_earns_per_hour": 2})
    someone = member()
    for minute in (1, 2):
        assert velocity_refusal(someone, config, 5, utc(2026, 6, 15, 9, minute)) is None
        someone = _earn(someone, config, 5, utc(2026, 6, 15, 9, minute))

    refusal = velocity_refusal(someone, config, 5, utc(2026, 6, 15, 9, 59))

    assert refusal is not None and (refusal.code, refusal.status) == ("limit_reached", 409)
    assert refusal.details == {"cap": "max_earns_per_hour", "limit": 2, "used": 2}
    assert velocity_refusal(someone, config, 5, utc(2026, 6, 15, 10, 0)) is None


@pytest.mark.parametrize(
    ("earned_today", "points", "refused"),
    [(0, 100, False), (60, 40, False), (60, 41, True), (100, 1, True), (0, 101, True)],
)
def test_given_a_points_per_day_cap_then_an_earn_that_would_pass_it_is_refused(
    earned_today: int, points: int, refused: bool
) -> None:
    config = program(fraud={"max_points_per_day": 100})
    someone = member(velocity={"D2026-06-15": earned_today})

    refusal = velocity_refusal(someone, config, points, utc(2026, 6, 15, 23, 59))

    assert (refusal is not None) is refused
    if refusal is not None:
        assert refusal.details["cap"] == "max_points_per_day"
    # A new day starts from nothing.
    assert velocity_refusal(someone, config, min(points, 100), utc(2026, 6, 16)) is None


def test_given_no_caps_then_nothing_is_ever_refused() -> None:
    someone = member(velocity={"H2026-06-15T09": 10_000, "D2026-06-15": 10**9})

    assert velocity_refusal(someone, program(), 10**6, utc(2026, 6, 15, 9, 30)) is None
