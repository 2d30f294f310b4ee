"""Earning rules as plain values: model checks, item filters, schedules across time zones, stacking, caps, rounding."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from loyalty.domain import rules
from loyalty.domain.program import EarningRule, ProgramConfig
from loyalty.domain.rules import Line, RuleGrant
from loyalty.errors import ValidationFailed
from tests.unit.factories import member, program, standard_tiers, utc

BERLIN = ZoneInfo("Europe/Berlin")


def rule(**fields: Any) -> EarningRule:
    return EarningRule.model_validate({"name": "r", "trigger": "order", **fields})


def config(rules_by_id: dict[str, EarningRule], **settings: Any) -> ProgramConfig:
    base = program(**settings)
    return base.model_copy(update={"earning_rules": rules_by_id})


def item(line_id: str, sku: str, category: str | None, quantity: int, unit_price: str) -> SimpleNamespace:
    return SimpleNamespace(
        line_id=line_id, sku=sku, category=category, quantity=quantity, unit_price=Decimal(unit_price)
    )


LINES = rules.order_lines(
    Decimal("45"),
    [item("1", "BEANS", "coffee", 1, "25"), item("2", "MUG", "merch", 2, "5"), item("3", "CARD", "gift", 1, "10")],
)


def grants(cfg: ProgramConfig, lines: list[Line] = LINES, who: Any = None, **kwargs: Any) -> dict[str, RuleGrant]:
    moment = kwargs.pop("moment", utc(2026, 11, 23, 12))
    context = kwargs.pop("context", {})
    found = rules.order_grants(cfg, who or member(), lines, context, moment, kwargs.pop("budget_left", {}))
    return {grant.rule_id: grant for grant in found}


# ------------------------------------------------------------------ the model


@pytest.mark.parametrize(
    "fields",
    [
        {"trigger": "activity", "effect": {"type": "fixed", "points": 5}},  # no activity_type
        {"activity_type": "review", "effect": {"type": "fixed", "points": 5}},  # order rule with an activity type
        {"trigger": "activity", "activity_type": "review", "effect": {"type": "multiplier", "factor": 2}},
        {"trigger": "activity", "activity_type": "review", "effect": {"type": "per_amount", "points": 2}},
        {"effect": {"type": "multiplier", "factor": 1}},  # no extra to give
        {"effect": {"type": "fixed", "points": 5}, "unknown": 1},
        {"effect": {"type": "fixed", "points": 5}, "schedule": {"from": "18:00"}},  # half an hour range
        {"effect": {"type": "fixed", "points": 5}, "schedule": {"timezone": "Mars/Olympus"}},
        {"effect": {"type": "fixed", "points": 5}, "schedule": {"weekdays": ["MONDAY"]}},
        {
            "effect": {"type": "fixed", "points": 5},
            "valid_from": "2026-02-01T00:00:00Z",
            "valid_until": "2026-01-01T00:00:00Z",
        },
        {"effect": {"type": "fixed", "points": 5}, "caps": {"points": 0, "period_days": 30}},
    ],
)
def test_an_inconsistent_rule_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        rule(**fields)


@pytest.mark.parametrize("condition", ["member.country ==", 'customer.country == "DE"'])
def test_a_condition_that_does_not_compile_or_reads_an_unknown_name_is_refused(condition: str) -> None:
    with pytest.raises(ValidationFailed):
        rule(effect={"type": "fixed", "points": 5}, condition=condition)


# ------------------------------------------------------------------ lines and item filters


def test_an_order_without_items_is_one_line_worth_its_amount() -> None:
    assert rules.order_lines(Decimal("12.5"), []) == [Line("order", None, None, Decimal("12.5"))]


def test_item_filters_pick_categories_and_skus_and_exclusions_win() -> None:
    coffee, mug, card = LINES
    assert [line.value for line in LINES] == [Decimal(25), Decimal(10), Decimal(10)]
    filters = rule(effect={"type": "fixed", "points": 1}, items={"categories": ["coffee"], "skus": ["MUG"]}).items
    assert [rules.eligible(filters, line) for line in LINES] == [True, True, False]
    excluding = rule(
        effect={"type": "fixed", "points": 1}, items={"exclude_categories": ["gift"], "exclude_skus": ["MUG"]}
    ).items
    assert [rules.eligible(excluding, line) for line in (coffee, mug, card)] == [True, False, False]


def test_per_amount_points_come_from_eligible_lines_only() -> None:
    cfg = config({"coffee": rule(effect={"type": "per_amount", "points": 2}, items={"categories": ["coffee"]})})
    found = grants(cfg)
    assert found["base_rate"].points == 45
    assert found["base_rate"].lines == {"1": 25, "2": 10, "3": 10}
    assert found["coffee"].points == 50
    assert found["coffee"].lines == {"1": 50}


def test_a_rule_whose_lines_are_all_excluded_gives_nothing() -> None:
    cfg = config({"bonus": rule(effect={"type": "fixed", "points": 20}, items={"skus": ["NOPE"]})})
    assert "bonus" not in grants(cfg)


# ------------------------------------------------------------------ schedules and validity


def test_a_happy_hour_is_read_in_its_own_time_zone() -> None:
    happy = rule(
        effect={"type": "fixed", "points": 5},
        schedule={"weekdays": ["MON"], "from": "18:00", "to": "20:00", "timezone": "Europe/Berlin"},
    ).schedule
    # 17:30 UTC on Monday 23 November is 18:30 in Berlin (CET, +01:00).
    assert rules.in_schedule(happy, utc(2026, 11, 23, 17, 30))
    assert not rules.in_schedule(happy, utc(2026, 11, 23, 19, 0))  # 20:00 Berlin: the hour is over
    assert not rules.in_schedule(happy, utc(2026, 11, 24, 17, 30))  # a Tuesday
    # In summer Berlin is +02:00: 16:30 UTC is 18:30 there.
    assert rules.in_schedule(happy, utc(2026, 7, 6, 16, 30))


def test_a_schedule_across_midnight_belongs_to_the_evening_it_started() -> None:
    late = rule(
        effect={"type": "fixed", "points": 5},
        schedule={"weekdays": ["FRI"], "from": "22:00", "to": "02:00", "timezone": "UTC"},
    ).schedule
    assert rules.in_schedule(late, utc(2026, 11, 27, 23, 0))  # Friday night
    assert rules.in_schedule(late, utc(2026, 11, 28, 1, 0))  # Saturday 01:00, still Friday's night
    assert not rules.in_schedule(late, utc(2026, 11, 29, 1, 0))  # Sunday 01:00: Saturday's night
    assert not rules.in_schedule(late, utc(2026, 11, 28, 3, 0))


def test_a_schedule_without_its_own_zone_reads_the_programs_local_time() -> None:
    monday = rule(effect={"type": "fixed", "points": 5}, schedule={"weekdays": ["MON"]}).schedule
    sunday_night_utc = utc(2026, 11, 22, 23, 30)  # Monday 00:30 in Berlin
    assert rules.in_schedule(monday, sunday_night_utc.astimezone(BERLIN))
    assert not rules.in_schedule(monday, sunday_night_utc)


def test_validity_dates_and_the_kill_switch_are_respected() -> None:
    moment = utc(2026, 11, 23, 12)
    fixed = {"type": "fixed", "points": 5}
    assert rules.applies(rule(effect=fixed, valid_from="2026-11-23T12:00:00Z"), {}, moment)
    assert not rules.applies(rule(effect=fixed, valid_until="2026-11-23T12:00:00Z"), {}, moment)
    assert not rules.applies(rule(effect=fixed, valid_from="2026-12-01T00:00:00Z"), {}, moment)
    assert not rules.applies(rule(effect=fixed, active=False), {}, moment)


def test_now_in_a_condition_is_the_programs_local_weekday() -> None:
    monday = rule(effect={"type": "multiplier", "factor": 2}, condition="now.getDayOfWeek() == 1")
    cfg = config({"monday": monday}, timezone="Europe/Berlin")
    sunday_night_utc = utc(2026, 11, 22, 23, 30)
    local = rules.local_time(cfg, sunday_night_utc)
    assert rules.applies(monday, {"now": local}, local)
    assert not rules.applies(monday, {"now": sunday_night_utc}, sunday_night_utc)


def test_a_condition_reads_the_member_and_the_order() -> None:
    cfg = config(
        {
            "de_web": rule(
                effect={"type": "fixed", "points": 7},
                condition='member.country == "DE" && order.channel == "web" && order.amount > 40.0',
            )
        }
    )
    order = SimpleNamespace(order_id="o-1", amount=Decimal(45), currency="EUR", channel="web", items=[], metadata={})
    moment = utc(2026, 11, 23, 12)
    german, french = member(country="DE"), member(country="FR")
    assert grants(cfg, who=german, context=rules.order_context(cfg, german, order, moment))["de_web"].points == 7
    assert "de_web" not in grants(cfg, who=french, context=rules.order_context(cfg, french, order, moment))


# ------------------------------------------------------------------ stacking and rounding


def test_stacking_base_per_amount_multiplier_tier_then_fixed() -> None:
    cfg = config(
        {
            "bonus": rule(effect={"type": "fixed", "points": 10}),
            "double_coffee": rule(effect={"type": "multiplier", "factor": 2}, items={"categories": ["coffee"]}),
            "merch": rule(effect={"type": "per_amount", "points": 3, "per_amount": 2}, items={"categories": ["merch"]}),
        },
        tiers=standard_tiers(),
    )
    gold = member(tier="gold")  # x1.5
    found = rules.order_grants(cfg, gold, LINES, {}, utc(2026, 11, 23, 12), {})
    # In stacking order: base, per_amount, multiplier, fixed.
    assert [(g.rule_id, g.points) for g in found] == [
        ("base_rate", 67),  # floor(45 x 1.5)
        ("merch", 22),  # floor(10 x 3 / 2 x 1.5)
        ("double_coffee", 37),  # floor(25 x (2 - 1) x 1.5)
        ("bonus", 10),  # fixed: not scaled by the tier
    ]
    assert sum(found[0].lines.values()) == 67
    assert found[2].lines == {"1": 37}
    assert sum(found[3].lines.values()) == 10


def test_each_rule_is_rounded_once_with_the_programs_rounding() -> None:
    lines = [Line(str(n), "S", None, Decimal("0.4")) for n in range(3)]  # 1.2 in all
    per = {"p": rule(effect={"type": "per_amount", "points": 1})}
    assert grants(config(per, rounding="floor"), lines)["p"].points == 1
    assert grants(config(per, rounding="ceil"), lines)["p"].points == 2
    assert grants(config(per, rounding="round"), lines)["p"].points == 1
    # Rounded per line, three lines of 0.4 would give 0 with floor and 3 with ceil.
    ceil = grants(config(per, rounding="ceil"), lines)["p"]
    assert sum(ceil.lines.values()) == 2


def test_division_comes_last_so_a_third_times_three_is_whole() -> None:
    cfg = config({}, earn_rate={"points": 1, "per_amount": 3}, tiers={"t": standard_tiers()["bronze"]})
    assert grants(cfg, [Line("order", None, None, Decimal(9))])["base_rate"].points == 3
    per_third = config({"p": rule(effect={"type": "per_amount", "points": 1, "per_amount": 3})})
    assert grants(per_third, [Line("a", None, None, Decimal(5)), Line("b", None, None, Decimal(4))])["p"].points == 3


def test_spread_gives_whole_points_that_add_up() -> None:
    assert rules.spread(10, {"a": Decimal(1), "b": Decimal(1), "c": Decimal(1)}) == {"a": 4, "b": 3, "c": 3}
    assert rules.spread(5, {"a": Decimal(0), "b": Decimal(0)}) in ({"a": 3, "b": 2}, {"a": 2, "b": 3})
    assert rules.spread(0, {"a": Decimal(2)}) == {"a": 0}


# ------------------------------------------------------------------ caps and budgets


def test_a_capped_rule_gives_only_what_is_left_in_its_window() -> None:
    review = EarningRule.model_validate(
        {
            "name": "Review",
            "trigger": "activity",
            "activity_type": "review",
            "effect": {"type": "fixed", "points": 50},
            "caps": {"points": 120, "period_days": 30},
        }
    )
    cfg = config({"review": review})
    moment = utc(2026, 11, 23, 12)
    fresh = member()
    assert rules.activity_grants(cfg, fresh, "review", {}, moment, {}) == [RuleGrant("review", 50)]
    used = member(rule_points={"review": {"2026-11-01": 50, "2026-11-20": 50, "2026-10-01": 50}})
    # 2026-10-01 is outside the 30 days ending 23 November: 100 used, 20 left.
    assert rules.activity_grants(cfg, used, "review", {}, moment, {}) == [RuleGrant("review", 20)]
    full = member(rule_points={"review": {"2026-11-22": 120}})
    assert rules.activity_grants(cfg, full, "review", {}, moment, {}) == []
    counted = rules.count_capped(cfg, used.rule_points, [RuleGrant("review", 20)], moment)
    assert counted == {"review": {"2026-11-01": 50, "2026-11-20": 50, "2026-11-23": 20}}


def test_an_activity_without_a_matching_rule_has_no_grants() -> None:
    review = EarningRule.model_validate(
        {"name": "Review", "trigger": "activity", "activity_type": "review", "effect": {"type": "fixed", "points": 50}}
    )
    assert rules.activity_grants(config({"review": review}), member(), "newsletter", {}, utc(2026, 1, 1), {}) is None


def test_a_budgeted_rule_gives_no_more_than_its_budget_left() -> None:
    cfg = config({"bonus": rule(effect={"type": "fixed", "points": 10}, budget=100)})
    assert grants(cfg, budget_left={"bonus": 4})["bonus"].points == 4
    assert "bonus" not in grants(cfg, budget_left={"bonus": 0})


def test_a_budget_plan_takes_from_shards_with_room() -> None:
    budgeted = rule(effect={"type": "fixed", "points": 10}, budget=100)  # 8 shards: 13,13,13,13,12,12,12,12
    assert budgeted.budget_shards() == 8
    assert sum(budgeted.shard_budget(n) or 0 for n in range(8)) == 100
    assert rules.budget_plan(budgeted, None, 10, first_shard=11) == [(3, 10)]
    counts = [13, 13, 13, 8, 12, 12, 12, 12]
    assert rules.budget_plan(budgeted, counts, 10, first_shard=3) == [(3, 5)]  # all that is left
    assert rules.budget_plan(budgeted, [5, 13, 13, 13, 12, 12, 12, 12], 10, first_shard=3) == [(0, 8)]
    assert rules.budget_plan(budgeted, [9, 10, 13, 13, 12, 12, 12, 12], 6, first_shard=0) == [(0, 4), (1, 2)]


def test_the_local_day_of_a_cap_is_the_programs() -> None:
    cfg = config({}, timezone="Europe/Berlin")
    assert rules.local_time(cfg, utc(2026, 11, 22, 23, 30)) == datetime(2026, 11, 23, 0, 30, tzinfo=BERLIN)


def test_a_condition_nested_too_deeply_to_evaluate_is_refused_when_saved() -> None:
    with pytest.raises(ValidationFailed) as refused:
        rule(effect={"type": "fixed", "points": 5}, condition="-" * 500 + "1")
    assert refused.value.details["max_depth"] == 200
    assert rule(effect={"type": "fixed", "points": 5}, condition="-" * 10 + "1").condition is not None
