"""Properties of the ledger that must hold for every history, not just the examples we thought of."""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loyalty.domain.ledger import Lot, credit, new_lot, points_for_amount, spend_soonest_expiring_first
from loyalty.domain.program import ProgramConfig, add_months, lot_expiry
from loyalty.errors import InsufficientPoints
from tests.unit.factories import member, program, standard_tiers, tier, utc

# Bounded so that the whole unit tier stays at a few seconds; no example database is written.
BOUNDED = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

START = utc(2024, 1, 1)
HORIZON_MINUTES = 2 * 366 * 24 * 60

moments = st.integers(0, HORIZON_MINUTES).map(lambda minutes: START + timedelta(minutes=minutes))

expiry_policies = st.one_of(
    st.just({"policy": "never"}),
    st.just({"policy": "inactivity", "days": 90}),
    st.builds(lambda days: {"policy": "rolling", "days": days}, st.integers(1, 400)),
    st.builds(
        lambda period, k: {"policy": "end_of_period", "period": period, "periods_after": k},
        st.sampled_from(["month", "quarter", "year"]),
        st.integers(0, 3),
    ),
)

_configs: dict[tuple[str, int], ProgramConfig] = {}


def config_for(expiry: dict[str, Any], pending_days: int) -> ProgramConfig:
    """Programs are immutable values: build each distinct one once."""
    key = (repr(sorted(expiry.items())), pending_days)
    if key not in _configs:
        _configs[key] = program(expiry=expiry, pending_days=pending_days)
    return _configs[key]


@dataclass(frozen=True)
class Credit:
    points: int
    occurred_at: datetime
    pending_days: int
    expiry: dict[str, Any]


@dataclass(frozen=True)
class SpendAt:
    """A spend at a random moment, drawn relative to the latest earn so far so that lots are often live.

    `at_lot` pins the moment to an existing lot's availability or expiry instant instead (the edges), and
    `around_available` asks for the spendable sum plus a small offset instead of `points` (the refusal edge).
    """

    points: int
    delay: timedelta
    at_lot: tuple[int, str] | None
    around_available: int | None


# Earns over half a year (a leap February included); spends from a month before the latest earn to 200 days after.
earn_moments = st.integers(0, 182 * 24 * 60).map(lambda minutes: START + timedelta(minutes=minutes))
credits = st.builds(Credit, st.integers(1, 1_000), earn_moments, st.integers(0, 30), expiry_policies)
spends = st.builds(
    SpendAt,
    st.one_of(st.integers(0, 300), st.integers(0, 3_000)),
    st.integers(-30 * 24 * 60, 200 * 24 * 60).map(lambda m: timedelta(minutes=m)),
    st.one_of(st.none(), st.tuples(st.integers(0, 39), st.sampled_from(["available_at", "expires_at"]))),
    st.one_of(st.none(), st.integers(-2, 2)),
)
histories = st.lists(st.one_of(credits, credits, spends), min_size=1, max_size=40)


def usable(lot: Lot, now: datetime) -> bool:
    """Independent of Lot.spendable: points left, out of pending, and not yet at their expiry instant."""
    return lot.remaining > 0 and lot.available_at <= now and (lot.expires_at is None or now < lot.expires_at)


def moment_of(operation: SpendAt, lots: dict[str, Lot], latest_earn: datetime) -> datetime:
    if operation.at_lot is not None and lots:
        ordered = sorted(lots)
        edge = getattr(lots[ordered[operation.at_lot[0] % len(ordered)]], operation.at_lot[1])
        if edge is not None:
            return edge
    return latest_earn + operation.delay


def expiry_order(lot: Lot) -> tuple[bool, datetime]:
    """Soonest-expiring first; a lot that never expires comes after every dated one."""
    return (lot.expires_at is None, lot.expires_at or datetime.max.replace(tzinfo=START.tzinfo))


@BOUNDED
@given(histories)
def test_for_any_history_of_credits_and_spends_then_every_spend_is_exact_and_soonest_expiring_first(
    history: list[Credit | SpendAt],
) -> None:
    lots: dict[str, Lot] = {}
    latest_earn = START
    for step, operation in enumerate(history):
        if isinstance(operation, Credit):
            config = config_for(operation.expiry, operation.pending_days)
            lot_id = f"lot-{step:03d}"
            lots[lot_id] = new_lot(config, lot_id, f"order#{step}", operation.points, operation.occurred_at, None)
            latest_earn = max(latest_earn, operation.occurred_at)
            continue

        now = moment_of(operation, lots, latest_earn)
        spendable = {lot_id: lot for lot_id, lot in lots.items() if usable(lot, now)}
        available = sum(lot.remaining for lot in spendable.values())
        wanted = operation.points if operation.around_available is None else available + operation.around_available
        total_before = sum(lot.remaining for lot in lots.values())

        # Refused exactly when the spendable points fall short of the request.
        if wanted > available:
            with pytest.raises(InsufficientPoints) as refused:
                spend_soonest_expiring_first(list(lots.values()), wanted, now)
            assert refused.value.details == {"required": wanted, "available": available}
            continue
        paid = spend_soonest_expiring_first(list(lots.values()), wanted, now)
        if wanted <= 0:
            assert paid == []
            continue

        # Exactly the amount asked, each lot at most once, only from spendable lots, never more than remains.
        assert sum(spend.points for spend in paid) == wanted
        assert len({spend.lot_id for spend in paid}) == len(paid)
        for spend in paid:
            lot = spendable[spend.lot_id]
            assert 0 < spend.points <= lot.remaining
            assert spend.remaining_before == lot.remaining
            assert spend.source == lot.source

        after = dict(lots)
        for spend in paid:
            after[spend.lot_id] = replace(lots[spend.lot_id], remaining=lots[spend.lot_id].remaining - spend.points)

        # Nothing is created or lost: what remains is what was there minus what was spent.
        assert all(lot.remaining >= 0 for lot in after.values())
        assert sum(lot.remaining for lot in after.values()) == total_before - wanted

        # No spendable lot expiring strictly earlier is left with points while a later-expiring one pays.
        used = {spend.lot_id for spend in paid}
        for used_id in used:
            for lot_id, lot in spendable.items():
                if expiry_order(lot) < expiry_order(lots[used_id]):
                    assert after[lot_id].remaining == 0, f"{lot_id} expires before {used_id} but kept points"

        # At most the last lot of the plan is only partly drained.
        assert all(after[spend.lot_id].remaining == 0 for spend in paid[:-1])
        lots = after


@BOUNDED
@given(
    points=st.integers(1, 5_000),
    qualifying=st.dictionaries(st.sampled_from(["2024-06", "2024-12", "2025-03", "2025-06"]), st.integers(0, 6_000)),
    tier_before=st.sampled_from([None, "bronze", "silver", "gold"]),
    balance=st.integers(0, 10_000),
    pending=st.integers(0, 10_000),
    occurred_at=st.integers(-400, 0).map(lambda days: utc(2025, 6, 15) + timedelta(days=days)),
    pending_days=st.integers(0, 30),
)
def test_for_any_credit_then_points_land_in_balance_or_pending_and_the_tier_only_ever_rises(
    points: int,
    qualifying: dict[str, int],
    tier_before: str | None,
    balance: int,
    pending: int,
    occurred_at: datetime,
    pending_days: int,
) -> None:
    config = program(tiers=standard_tiers(), pending_days=pending_days)
    now = utc(2025, 6, 15)
    before = member(tier=tier_before, balance=balance, pending=pending, qualifying=qualifying, lifetime_points=7)
    lot = new_lot(config, "lot-1", "order#1", points, occurred_at, tier_before)

    after, reached = credit(before, config, lot, now)

    assert after.balance + after.pending == balance + pending + points
    assert after.balance == balance + (points if lot.available_at <= now else 0)
    assert after.lifetime_points == 7 + points
    assert config.tier_rank(after.tier) >= config.tier_rank(tier_before)
    assert (reached is not None) == (after.tier != tier_before)
    assert reached is None or reached == after.tier


amounts = st.decimals(min_value=Decimal("-1000"), max_value=Decimal("100000"), places=2, allow_nan=False)
per_amounts = st.sampled_from(["0.5", "1", "2", "3", "5", "7", "10", "12.5", "100"])
multipliers = st.sampled_from(["0", "1", "1.1", "1.25", "1.5", "2", "3", "6"])


def earn_config(per_amount: str, points: int, multiplier: str, rounding: str) -> ProgramConfig:
    return program(
        earn_rate={"points": points, "per_amount": per_amount}, rounding=rounding, tiers={"vip": tier(0, multiplier)}
    )


@BOUNDED
@given(amount=amounts, per_amount=per_amounts, rate=st.integers(0, 20), multiplier=multipliers)
def test_for_any_amount_then_points_are_never_negative_and_the_rounding_modes_differ_by_at_most_one(
    amount: Decimal, per_amount: str, rate: int, multiplier: str
) -> None:
    floor, half_up, ceil = (
        points_for_amount(earn_config(per_amount, rate, multiplier, rounding), amount, "vip")
        for rounding in ("floor", "round", "ceil")
    )

    assert 0 <= floor <= half_up <= ceil <= floor + 1
    if amount <= 0:
        assert ceil == 0


@BOUNDED
@given(
    amount=amounts,
    per_amount=per_amounts,
    rate=st.integers(0, 20),
    multiplier=multipliers,
    rounding=st.sampled_from(["floor", "round", "ceil"]),
)
@example(amount=Decimal("10"), per_amount="3", rate=1, multiplier="3", rounding="floor")
def test_for_any_amount_then_points_are_the_exact_product_rounded_once_as_configured(
    amount: Decimal, per_amount: str, rate: int, multiplier: str, rounding: str
) -> None:
    exact = Fraction(amount) * rate / Fraction(per_amount) * Fraction(multiplier)
    expected = {"floor": math.floor(exact), "ceil": math.ceil(exact), "round": math.floor(exact + Fraction(1, 2))}

    got = points_for_amount(earn_config(per_amount, rate, multiplier, rounding), amount, "vip")

    assert got == max(expected[rounding], 0)


@BOUNDED
@given(moment=moments, months=st.integers(-36, 36))
def test_for_any_date_then_adding_months_lands_in_the_right_month_on_the_same_or_last_day(
    moment: datetime, months: int
) -> None:
    shifted = add_months(moment, months)

    assert (shifted.year * 12 + shifted.month) - (moment.year * 12 + moment.month) == months
    assert shifted.day == min(moment.day, calendar.monthrange(shifted.year, shifted.month)[1])
    assert shifted.time() == moment.time()


@BOUNDED
@given(
    occurred_at=moments,
    period=st.sampled_from(["month", "quarter", "year"]),
    periods_after=st.integers(0, 5),
)
def test_for_any_earn_in_a_utc_program_then_end_of_period_expiry_is_a_later_period_start_at_midnight(
    occurred_at: datetime, period: str, periods_after: int
) -> None:
    config = program(expiry={"policy": "end_of_period", "period": period, "periods_after": periods_after})
    length = {"month": 1, "quarter": 3, "year": 12}[period]

    expires_at = lot_expiry(config, occurred_at, None)

    assert expires_at is not None and expires_at > occurred_at
    assert (expires_at.day, expires_at.hour, expires_at.minute, expires_at.second) == (1, 0, 0, 0)
    assert (expires_at.month - 1) % length == 0
    months_ahead = (expires_at.year * 12 + expires_at.month) - (occurred_at.year * 12 + occurred_at.month)
    assert length * periods_after < months_ahead <= length * (periods_after + 1)


@BOUNDED
@given(
    occurred_at=moments,
    zone=st.sampled_from(
        ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Auckland", "Pacific/Kiritimati"]
    ),
    periods_after=st.integers(0, 3),
)
def test_for_any_earn_in_a_zoned_program_then_yearly_expiry_is_local_new_year_after_the_earns_local_year(
    occurred_at: datetime, zone: str, periods_after: int
) -> None:
    config = program(
        expiry={"policy": "end_of_period", "period": "year", "periods_after": periods_after}, timezone=zone
    )
    local_year = occurred_at.astimezone(ZoneInfo(zone)).year

    expires_at = lot_expiry(config, occurred_at, None)

    assert expires_at == datetime(local_year + 1 + periods_after, 1, 1, tzinfo=ZoneInfo(zone))
    assert expires_at is not None and expires_at.utcoffset() == timedelta(0)
