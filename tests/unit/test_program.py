"""Program settings, tiers and rewards: what an admin may configure and what the engine derives from it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from loyalty.domain.program import (
    EndOfPeriodExpiry,
    InactivityExpiry,
    NeverExpiry,
    ProgramSettings,
    Reward,
    RollingExpiry,
    Tier,
)
from tests.unit.factories import program, standard_tiers, tier


def settings(**fields: Any) -> ProgramSettings:
    return ProgramSettings.model_validate({"name": "Test programme", "currency": "EUR", **fields})


# --- ProgramSettings validation -------------------------------------------------------------


def test_given_only_name_and_currency_then_defaults_are_floor_rounding_one_point_per_unit_and_no_expiry() -> None:
    defaults = settings()

    assert defaults.rounding == "floor"
    assert defaults.earn_rate.points == 1
    assert defaults.earn_rate.per_amount == Decimal(1)
    assert isinstance(defaults.expiry, NeverExpiry)
    assert defaults.pending_days == 0
    assert defaults.tier_window_days == 365
    assert defaults.timezone == "UTC"


@pytest.mark.parametrize("currency", ["EUR", "USD", "JPY", "GBP", "CHF"])
def test_given_an_iso_4217_currency_then_settings_accept_it(currency: str) -> None:
    assert settings(currency=currency).currency == currency


@pytest.mark.parametrize(
    "currency",
    [
        pytest.param("XYZ", id="well-formed-but-not-iso-4217"),
        pytest.param("DEM", id="withdrawn-currency"),
        pytest.param("eur", id="lower-case"),
        pytest.param("EURO", id="four-letters"),
        pytest.param("EU", id="two-letters"),
        pytest.param("", id="empty"),
        pytest.param("E1R", id="digit"),
    ],
)
def test_given_a_currency_that_is_not_iso_4217_then_settings_are_rejected(currency: str) -> None:
    with pytest.raises(ValidationError, match="currency"):
        settings(currency=currency)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_given_an_iana_time_zone_then_settings_accept_it(zone: str) -> None:
    assert settings(timezone=zone).timezone == zone


@pytest.mark.parametrize(
    "zone",
    [
        pytest.param("Mars/Olympus_Mons", id="unknown-zone"),
        pytest.param("Europe/Berlinn", id="typo"),
        pytest.param("Europe/Berlin ", id="trailing-space"),
        pytest.param("", id="empty"),
        pytest.param("/etc/passwd", id="absolute-path"),
        pytest.param("../../etc/passwd", id="relative-path"),
        pytest.param("+02:00", id="offset-not-zone"),
    ],
)
def test_given_something_that_is_not_an_iana_time_zone_then_settings_are_rejected(zone: str) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        settings(timezone=zone)


@pytest.mark.parametrize(
    "earn_rate",
    [
        pytest.param({"points": 1, "per_amount": 0}, id="per-amount-zero"),
        pytest.param({"points": 1, "per_amount": -5}, id="per-amount-negative"),
        pytest.param({"points": -1, "per_amount": 1}, id="negative-points"),
        pytest.param({"points": 1_000_001, "per_amount": 1}, id="points-over-a-million"),
        pytest.param({"points": 1, "per_amount": 1, "bonus": 2}, id="unknown-field"),
    ],
)
def test_given_an_impossible_earn_rate_then_settings_are_rejected(earn_rate: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="earn_rate"):
        settings(earn_rate=earn_rate)


def test_given_an_unknown_rounding_mode_then_settings_are_rejected() -> None:
    with pytest.raises(ValidationError, match="rounding"):
        settings(rounding="banker")


@pytest.mark.parametrize(
    ("expiry", "expected_type", "expected_fields"),
    [
        ({"policy": "rolling", "days": 365}, RollingExpiry, {"days": 365}),
        ({"policy": "inactivity", "days": 540}, InactivityExpiry, {"days": 540}),
        (
            {"policy": "end_of_period", "period": "quarter"},
            EndOfPeriodExpiry,
            {"period": "quarter", "periods_after": 0},
        ),
        (
            {"policy": "end_of_period", "period": "year", "periods_after": 2},
            EndOfPeriodExpiry,
            {"period": "year", "periods_after": 2},
        ),
        ({"policy": "never"}, NeverExpiry, {}),
    ],
)
def test_given_an_expiry_policy_then_its_policy_field_selects_the_matching_shape(
    expiry: dict[str, Any], expected_type: type, expected_fields: dict[str, Any]
) -> None:
    parsed = settings(expiry=expiry).expiry

    assert isinstance(parsed, expected_type)
    for name, value in expected_fields.items():
        assert getattr(parsed, name) == value


@pytest.mark.parametrize(
    "expiry",
    [
        pytest.param({"policy": "rolling"}, id="rolling-without-days"),
        pytest.param({"policy": "rolling", "days": 0}, id="rolling-zero-days"),
        pytest.param({"policy": "inactivity", "days": -1}, id="inactivity-negative-days"),
        pytest.param({"policy": "end_of_period"}, id="end-of-period-without-period"),
        pytest.param({"policy": "end_of_period", "period": "week"}, id="end-of-period-week"),
        pytest.param({"policy": "end_of_period", "period": "month", "periods_after": -1}, id="negative-periods-after"),
        pytest.param({"policy": "never", "days": 30}, id="never-with-days"),
        pytest.param({"policy": "sometimes"}, id="unknown-policy"),
        pytest.param({"days": 30}, id="no-policy"),
    ],
)
def test_given_an_incomplete_or_unknown_expiry_policy_then_settings_are_rejected(expiry: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="expiry"):
        settings(expiry=expiry)


def test_given_an_unknown_settings_field_then_settings_are_rejected() -> None:
    with pytest.raises(ValidationError, match="points_per_euro"):
        settings(points_per_euro=10)


# --- rounding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "floor", "half_up", "ceil"),
    [
        ("0", 0, 0, 0),
        ("3", 3, 3, 3),
        ("2.4999", 2, 2, 3),
        ("2.5", 2, 3, 3),
        ("2.5001", 2, 3, 3),
        ("3.5", 3, 4, 4),
        ("0.0001", 0, 0, 1),
        ("9.9999", 9, 10, 10),
        ("12345678.5", 12345678, 12345679, 12345679),
    ],
)
def test_given_a_fractional_point_amount_then_each_rounding_mode_settles_it_as_named(
    raw: str, floor: int, half_up: int, ceil: int
) -> None:
    value = Decimal(raw)

    assert settings(rounding="floor").round_points(value) == floor
    assert settings(rounding="round").round_points(value) == half_up
    assert settings(rounding="ceil").round_points(value) == ceil


# --- tiers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"name": "Gold", "threshold": -1}, id="negative-threshold"),
        pytest.param({"name": "Gold", "threshold": 10, "earn_multiplier": -1}, id="negative-multiplier"),
        pytest.param({"name": "Gold", "threshold": 10, "earn_multiplier": 101}, id="multiplier-over-100"),
        pytest.param({"name": "Gold", "threshold": 10, "expiry_days": 0}, id="zero-expiry-days"),
        pytest.param({"name": "", "threshold": 10}, id="empty-name"),
    ],
)
def test_given_an_impossible_tier_then_it_is_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Tier.model_validate(fields)


def test_given_tiers_in_any_order_then_they_are_ranked_by_threshold_with_ties_broken_by_id() -> None:
    config = program(
        tiers={
            "gold": tier(5_000),
            "bronze": tier(0),
            "silver-b": tier(1_000),
            "silver-a": tier(1_000),
        }
    )

    assert [tier_id for tier_id, _ in config.tiers_by_threshold()] == ["bronze", "silver-a", "silver-b", "gold"]
    assert [config.tier_rank(t) for t in ("bronze", "silver-a", "silver-b", "gold")] == [0, 1, 2, 3]


def test_given_tiers_then_the_entry_tier_is_the_one_with_the_lowest_threshold() -> None:
    config = program(tiers={"gold": tier(5_000), "silver": tier(1_000), "bronze": tier(100)})

    assert config.entry_tier() == "bronze"


@pytest.mark.parametrize(
    ("qualifying_points", "expected"),
    [
        (0, "bronze"),
        (999, "bronze"),
        (1_000, "silver"),
        (1_001, "silver"),
        (4_999, "silver"),
        (5_000, "gold"),
        (10**9, "gold"),
    ],
)
def test_given_qualifying_points_then_the_member_belongs_to_the_highest_tier_whose_threshold_is_reached(
    qualifying_points: int, expected: str
) -> None:
    assert program(tiers=standard_tiers()).tier_for(qualifying_points) == expected


def test_given_points_below_every_threshold_then_the_member_is_in_the_entry_tier() -> None:
    config = program(tiers={"silver": tier(1_000), "gold": tier(5_000)})

    assert config.tier_for(10) == "silver"


def test_given_a_program_without_tiers_then_no_tier_applies_and_the_multiplier_is_one() -> None:
    config = program()

    assert config.entry_tier() is None
    assert config.tier_for(1_000_000) is None
    assert config.tier_rank(None) == -1
    assert config.multiplier(None) == Decimal(1)


@pytest.mark.parametrize(
    ("tier_id", "rank", "multiplier"),
    [
        ("bronze", 0, Decimal("1")),
        ("silver", 1, Decimal("1.25")),
        ("gold", 2, Decimal("1.5")),
        (None, -1, Decimal("1")),
        ("platinum-retired", -1, Decimal("1")),
    ],
)
def test_given_a_tier_id_then_its_rank_and_multiplier_follow_the_configuration_and_unknown_tiers_rank_lowest(
    tier_id: str | None, rank: int, multiplier: Decimal
) -> None:
    config = program(tiers=standard_tiers())

    assert config.tier_rank(tier_id) == rank
    assert config.multiplier(tier_id) == multiplier


# --- rewards --------------------------------------------------------------------------------------


def reward(**fields: Any) -> Reward:
    return Reward.model_validate({"name": "Coffee", "type": "product", "cost": 500, **fields})


@pytest.mark.parametrize(
    ("tier_id", "expected"),
    [("gold", 300), ("silver", 400), ("bronze", 500), (None, 500), ("unknown", 500)],
)
def test_given_tier_specific_costs_then_a_member_pays_their_tiers_price_or_the_base_cost(
    tier_id: str | None, expected: int
) -> None:
    assert reward(tier_costs={"gold": 300, "silver": 400}).cost_for(tier_id) == expected


@pytest.mark.parametrize(
    ("stock", "total", "budget", "expected"),
    [
        (None, None, None, (None, None)),
        (10, None, None, (10, None)),
        (None, 7, None, (7, None)),
        (10, 7, None, (7, None)),
        (3, 7, None, (3, None)),
        (0, 7, None, (0, None)),
        (None, None, 50_000, (None, 50_000)),
        (10, 20, 50_000, (10, 50_000)),
    ],
)
def test_given_stock_total_and_budget_then_caps_are_the_tightest_unit_cap_and_the_points_budget(
    stock: int | None, total: int | None, budget: int | None, expected: tuple[int | None, int | None]
) -> None:
    limits = {"total": total, "points_budget": budget}

    assert reward(stock=stock, limits=limits).caps() == expected


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"cost": 0}, id="free-reward"),
        pytest.param({"type": "voucher"}, id="unknown-type"),
        pytest.param({"stock": -1}, id="negative-stock"),
        pytest.param({"tier_costs": {"gold": 0}}, id="zero-tier-cost"),
        pytest.param({"tier_costs": {"bad tier id": 10}}, id="tier-id-with-space"),
        pytest.param({"value": {"percent": 150}}, id="percent-over-100"),
    ],
)
def test_given_an_impossible_reward_then_it_is_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        reward(**fields)
