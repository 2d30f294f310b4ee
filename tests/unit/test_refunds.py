"""Refund arithmetic: attribution to lines, lines vs amount, which lots pay, debt and its payment."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.domain.ledger import Lot, Member, Spend, credit, settle_debt, settle_debt_from_refills
from loyalty.domain.refunds import (
    OrderLine,
    Refunded,
    claw_for_amount,
    claw_for_lines,
    claw_rest,
    largest_remainder,
    member_after_refund,
    points_by_line,
    take,
)
from loyalty.errors import ValidationFailed
from tests.unit.factories import T0, program

BASE = [{"rule_id": "base_rate", "points": 101}]
LINES = [OrderLine("a", 3, Decimal("10")), OrderLine("b", 1, Decimal("70"))]


def lot(lot_id: str, remaining: int, expires_in_days: int | None = 100, pending: bool = False) -> Lot:
    return Lot(
        lot_id=lot_id,
        source=f"order#{lot_id}",
        points=remaining,
        remaining=remaining,
        earned_at=T0 - timedelta(days=1),
        available_at=T0 + timedelta(days=5) if pending else T0 - timedelta(days=1),
        expires_at=T0 + timedelta(days=expires_in_days) if expires_in_days is not None else None,
        pending=pending,
    )


def test_largest_remainder_adds_up_exactly_and_gives_leftovers_to_the_largest_remainders() -> None:
    assert largest_remainder(101, {"a": Decimal(30), "b": Decimal(70)}) == {"a": 30, "b": 71}
    assert largest_remainder(10, {"a": Decimal(1), "b": Decimal(1), "c": Decimal(1)}) == {"a": 4, "b": 3, "c": 3}
    assert largest_remainder(5, {"a": Decimal(0), "b": Decimal(0)}) == {"a": 3, "b": 2}  # free lines share equally
    assert largest_remainder(7, {}) == {}


@given(
    st.integers(0, 10_000),
    st.lists(st.decimals(0, 1000, places=2, allow_nan=False, allow_infinity=False), min_size=1, max_size=12),
)
def test_largest_remainder_always_sums_to_the_total_and_parts_are_close(total: int, values: list[Decimal]) -> None:
    weights = {str(n): value for n, value in enumerate(values)}
    parts = largest_remainder(total, weights)
    assert sum(parts.values()) == total and all(part >= 0 for part in parts.values())
    whole = sum(weights.values())
    if whole > 0:
        assert all(abs(parts[k] - total * weights[k] / whole) < 1 for k in weights)


def test_a_rule_without_per_line_figures_is_attributed_pro_rata_and_one_with_them_keeps_them() -> None:
    rules = [*BASE, {"rule_id": "coffee_x2", "points": 9, "lines": {"a": 9}}]
    assert points_by_line(rules, LINES) == {"base_rate": {"a": 30, "b": 71}, "coffee_x2": {"a": 9}}


def test_lines_claw_back_rule_by_rule_and_the_last_unit_takes_what_is_left() -> None:
    rules = [*BASE, {"rule_id": "coffee_x2", "points": 10, "lines": {"a": 10}}]
    first = claw_for_lines(rules, 111, LINES, Refunded(), {"a": 1})
    assert first.rules == {"base_rate": 10, "coffee_x2": 3}
    second = claw_for_lines(rules, 111, LINES, first.after, {"a": 2})
    assert second.rules == {"base_rate": 20, "coffee_x2": 7}  # 10 - 3: what is left of the line
    assert second.after.lines == {"a": 3} and second.after.amount == Decimal(30)
    last = claw_for_lines(rules, 111, LINES, second.after, {"b": 1})
    assert last.points == 71 and last.after.points == 111  # the whole order back: exactly what it earned


def test_a_whole_return_also_takes_points_a_rule_gave_the_order_itself() -> None:
    rules = [*BASE, {"rule_id": "big_basket", "points": 5, "lines": {}}]
    claw = claw_for_lines(rules, 106, LINES, Refunded(), {"a": 3, "b": 1})
    assert claw.points == 106 and claw.rules["big_basket"] == 5


def test_lines_refused_when_unknown_or_more_than_left() -> None:
    with pytest.raises(ValidationFailed):
        claw_for_lines(BASE, 101, LINES, Refunded(), {"z": 1})
    with pytest.raises(ValidationFailed):
        claw_for_lines(BASE, 101, LINES, Refunded(lines={"a": 2}), {"a": 2})


def test_amount_is_pro_rata_of_the_order_and_the_last_of_it_takes_what_is_left() -> None:
    first = claw_for_amount(BASE, 101, Decimal(100), Refunded(), Decimal("33.33"))
    assert first.points == 33  # floor(101 x 33.33 / 100)
    rest = claw_for_amount(BASE, 101, Decimal(100), first.after, Decimal("66.67"))
    assert rest.points == 68 and rest.after.points == 101
    with pytest.raises(ValidationFailed):
        claw_for_amount(BASE, 101, Decimal(100), first.after, Decimal("66.68"))


def test_never_more_than_earned_minus_already_clawed_back() -> None:
    after_amount = claw_for_amount(BASE, 101, Decimal(100), Refunded(), Decimal(95)).after
    claw = claw_for_lines(BASE, 101, LINES, after_amount, {"b": 1})
    assert claw.points == 101 - 95 and claw.after.points == 101
    assert claw_rest(BASE, 101, Decimal(100), LINES, after_amount).points == 6
    with pytest.raises(ValidationFailed):
        claw_rest(BASE, 101, Decimal(100), LINES, claw_rest(BASE, 101, Decimal(100), LINES, Refunded()).after)


def test_the_orders_own_pending_lot_pays_first_then_soonest_expiring_lots_then_debt() -> None:
    own = lot("own", 40, pending=True)
    lots = [own, lot("late", 30, expires_in_days=None), lot("soon", 20, expires_in_days=10)]
    taking = take(own, lots, 100, T0)
    assert taking.own is not None and (taking.own.points, taking.own_pending) == (40, True)
    assert [(s.lot_id, s.points) for s in taking.others] == [("soon", 20), ("late", 30)]
    assert (taking.from_pending, taking.from_balance, taking.debt) == (40, 50, 10)


def test_other_pending_lots_pay_after_the_spendable_ones_and_before_any_debt() -> None:
    later = replace(lot("later", 30, pending=True), available_at=T0 + timedelta(days=9))
    sooner = lot("sooner", 25, pending=True)  # available in 5 days
    lots = [later, lot("spendable", 10), sooner]
    taking = take(None, lots, 50, T0)
    assert [(s.lot_id, s.points) for s in taking.others] == [("spendable", 10)]
    assert [(s.lot_id, s.points) for s in taking.others_pending] == [("sooner", 25), ("later", 15)]
    assert (taking.from_balance, taking.from_pending, taking.debt) == (10, 40, 0)
    assert [s.lot_id for s in taking.spends] == ["spendable", "sooner", "later"]
    assert take(None, lots, 70, T0).debt == 5


def test_an_available_own_lot_pays_from_the_balance_and_an_expired_one_is_left_to_the_sweep() -> None:
    taking = take(lot("own", 40), [lot("own", 40), lot("x", 5)], 30, T0)
    assert (taking.from_pending, taking.from_balance, taking.debt, taking.others) == (0, 30, 0, [])
    expired = lot("own", 40, expires_in_days=-1)
    taking = take(expired, [expired, lot("x", 5)], 30, T0)
    assert taking.own is None and (taking.from_balance, taking.debt) == (5, 25)


def test_a_credit_pays_the_debt_first_and_keeps_the_rest_in_its_lot() -> None:
    config = program(earn_rate={"points": 1, "per_amount": 1})
    member = Member("prog-1", "m1", enrolled_at=T0 - timedelta(days=30), balance=0, debt=70)
    first = lot("n1", 50)
    assert settle_debt(member, first) == 50 and first.remaining == 0
    after, _ = credit(member, config, first, T0)
    assert (after.balance, after.debt, after.lifetime_points) == (0, 20, 50)
    second = lot("n2", 50)
    assert settle_debt(after, second) == 20
    after, _ = credit(after, config, second, T0)
    assert (after.balance, after.debt, second.remaining) == (30, 0, 30)
    no_debt = replace(after, debt=0)
    third = lot("n3", 10)
    assert settle_debt(no_debt, third) == 0 and credit(no_debt, config, third, T0)[0].balance == 40


def test_points_given_back_pay_the_debt_from_the_first_spends_and_refill_only_the_rest() -> None:
    spends = [Spend("a", "order#a", 30, 30), Spend("b", "order#b", 50, 80), Spend("c", "order#c", 20, 20)]
    refills, paid = settle_debt_from_refills(45, spends)
    assert paid == 45
    assert [(s.lot_id, s.points) for s in refills] == [("b", 35), ("c", 20)]
    assert settle_debt_from_refills(0, spends) == (spends, 0)
    # A debt larger than what comes back takes all of it: no lot is refilled.
    assert settle_debt_from_refills(500, spends) == ([], 100)


def test_a_refund_takes_the_order_out_of_its_months_qualifying_points_spend_and_orders() -> None:
    someone = Member(
        "prog-1",
        "m1",
        enrolled_at=T0 - timedelta(days=400),
        lifetime_points=900,
        qualifying={"2026-10": 300, "2026-11": 500},
        spend={"2026-10": Decimal("300"), "2026-11": Decimal("480")},
        orders={"2026-10": 2, "2026-11": 3},
    )
    bought = T0.replace(year=2026, month=11, day=2)

    part = member_after_refund(someone, bought, 200, Decimal("200"), Refunded(), Refunded(1, 50, Decimal("50")))
    assert (part.qualifying, part.spend, part.orders, part.lifetime_points) == (
        {"2026-10": 300, "2026-11": 450},
        {"2026-10": Decimal("300"), "2026-11": Decimal("430")},
        {"2026-10": 2, "2026-11": 3},  # still an order: half of it was kept
        850,
    )
    rest = member_after_refund(
        part, bought, 200, Decimal("200"), Refunded(1, 50, Decimal("50")), Refunded(2, 200, Decimal("200"))
    )
    assert (rest.qualifying["2026-11"], rest.spend["2026-11"], rest.orders["2026-11"], rest.lifetime_points) == (
        300,
        Decimal("280"),
        2,
        700,
    )
    # Lines that do not add up to the order amount (shipping kept) still make the order wholly refunded
    # once all its points are back; a month outside the member's window is left alone.
    lines = member_after_refund(someone, bought, 200, Decimal("210"), Refunded(), Refunded(1, 200, Decimal("200")))
    assert lines.orders["2026-11"] == 2
    old = member_after_refund(
        someone, bought.replace(year=2025), 200, Decimal("200"), Refunded(), Refunded(1, 200, Decimal("200"))
    )
    assert (old.qualifying, old.spend, old.orders, old.lifetime_points) == (
        someone.qualifying,
        someone.spend,
        someone.orders,
        700,
    )
