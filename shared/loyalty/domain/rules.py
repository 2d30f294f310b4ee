"""Earning rules: which rules apply to an order or activity, and how many points each gives (no AWS).

Stacking, for an order (each rule rounded once, with the program's rounding):

1. the program's base rate per line (`base_rate`);
2. `per_amount` rules add their points per eligible line;
3. `multiplier` rules multiply the base-rate points of their eligible lines: each gives the
   extra (factor - 1) as its own applied rule;
4. the member's tier multiplier scales the points of steps 1-3, each rule's own;
5. `fixed` rules add their points (not scaled by the tier).

A line is an order item worth quantity x unit_price; an order without items is one line (`order`)
worth its amount. A rule gives no more than its cap leaves for the member (`caps`) and than its
budget leaves (`budget`, counted by the caller). Every rule records the points it gave per line, so
a refund of some lines can claw back exactly what those lines earned.

Conditions and schedules see the time the order or activity happened, in the program's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from loyalty.domain.conditions import holds, member_context
from loyalty.domain.program import (
    WEEKDAYS,
    EarningRule,
    FixedEffect,
    ItemFilter,
    MultiplierEffect,
    PerAmountEffect,
    ProgramConfig,
    RuleSchedule,
)

BASE_RATE = "base_rate"
WHOLE_ORDER = "order"  # the one line of an order without items


@dataclass(frozen=True)
class Line:
    line_id: str
    sku: str | None
    category: str | None
    value: Decimal


@dataclass
class RuleGrant:
    """The points one rule gave, and how many of them each order line earned."""

    rule_id: str
    points: int
    lines: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "points": self.points, **({"lines": self.lines} if self.lines else {})}


def order_lines(amount: Decimal, items: Sequence[Any]) -> list[Line]:
    """The order's lines: its items at quantity x unit_price, or the whole amount as one line."""
    if not items:
        return [Line(WHOLE_ORDER, None, None, amount)]
    return [Line(i.line_id, i.sku, i.category, i.quantity * i.unit_price) for i in items]


def local_time(config: ProgramConfig, moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(config.settings.timezone))


def order_context(config: ProgramConfig, member: Any, order: Any, moment: datetime) -> dict[str, Any]:
    return {
        "member": member_context(member, moment, config),
        "order": {
            "order_id": order.order_id,
            "amount": order.amount,
            "currency": order.currency,
            "channel": order.channel or "",
            "items": [item.model_dump() for item in order.items],
            "metadata": order.metadata,
        },
        "now": moment,
    }


def activity_context(config: ProgramConfig, member: Any, activity: Any, moment: datetime) -> dict[str, Any]:
    return {
        "member": member_context(member, moment, config),
        "activity": {"activity_type": activity.activity_type, "metadata": activity.metadata},
        "now": moment,
    }


def in_schedule(schedule: RuleSchedule | None, moment: datetime) -> bool:
    """Whether a moment falls on the schedule's weekdays and hours, in its time zone."""
    if schedule is None:
        return True
    local = moment.astimezone(ZoneInfo(schedule.timezone)) if schedule.timezone else moment
    start, end = schedule.from_, schedule.to
    if start is None or end is None:
        return WEEKDAYS[local.weekday()] in schedule.weekdays
    clock = local.time().replace(tzinfo=None)
    if start < end:
        return WEEKDAYS[local.weekday()] in schedule.weekdays and start <= clock < end
    # Spanning midnight: the hours after midnight belong to the evening that started the day before.
    if clock >= start:
        return WEEKDAYS[local.weekday()] in schedule.weekdays
    return clock < end and WEEKDAYS[(local.weekday() - 1) % 7] in schedule.weekdays


def applies(rule: EarningRule, context: dict[str, Any], moment: datetime) -> bool:
    """Active, within its validity and schedule, and its condition holds (checked last: the dearest)."""
    if not rule.active:
        return False
    if rule.valid_from is not None and moment < rule.valid_from:
        return False
    if rule.valid_until is not None and moment >= rule.valid_until:
        return False
    if not in_schedule(rule.schedule, moment):
        return False
    return rule.condition is None or holds(rule.condition, context)


def eligible(items: ItemFilter | None, line: Line) -> bool:
    if items is None:
        return True
    if line.category in items.exclude_categories or line.sku in items.exclude_skus:
        return False
    if not items.categories and not items.skus:
        return True
    return line.category in items.categories or line.sku in items.skus


def spread(points: int, weights: Mapping[str, Decimal]) -> dict[str, int]:
    """Split whole points over lines in proportion to their weights (largest remainder: the parts add up)."""
    if not weights:
        return {}
    total = sum(weights.values(), Decimal(0))
    shares = (
        {k: points * w / total for k, w in weights.items()}
        if total > 0
        else {k: Decimal(points) / len(weights) for k in weights}
    )
    parts = {k: int(v) for k, v in shares.items()}
    by_remainder = sorted(shares, key=lambda k: (shares[k] - parts[k], weights[k]), reverse=True)
    for k in by_remainder[: points - sum(parts.values())]:
        parts[k] += 1
    return parts


def cap_period_days(moment: datetime, period_days: int) -> str:
    """The oldest local day (YYYY-MM-DD) inside a window of `period_days` days ending with `moment`'s day."""
    return (moment - timedelta(days=period_days - 1)).strftime("%Y-%m-%d")


def cap_left(rule: EarningRule, counted: Mapping[str, int] | None, moment: datetime) -> int | None:
    """What a capped rule may still give the member within its window (None: no cap)."""
    if rule.caps is None:
        return None
    oldest = cap_period_days(moment, rule.caps.period_days)
    used = sum(points for day, points in (counted or {}).items() if day >= oldest)
    return max(rule.caps.points - used, 0)


def count_capped(
    config: ProgramConfig, rule_points: Mapping[str, Mapping[str, int]], grants: Sequence[RuleGrant], moment: datetime
) -> dict[str, dict[str, int]]:
    """The member's points per capped rule and local day after these grants, pruned to each rule's window."""
    given = {grant.rule_id: grant.points for grant in grants}
    counted: dict[str, dict[str, int]] = {}
    for rule_id, rule in config.earning_rules.items():
        if rule.caps is None:
            continue
        oldest = cap_period_days(moment, rule.caps.period_days)
        days = {day: points for day, points in rule_points.get(rule_id, {}).items() if day >= oldest}
        if given.get(rule_id):
            today = moment.strftime("%Y-%m-%d")
            days[today] = days.get(today, 0) + given[rule_id]
        if days:
            counted[rule_id] = days
    return counted


def _limited(
    rule_id: str, rule: EarningRule, points: int, member: Any, moment: datetime, budget_left: Mapping[str, int]
) -> int:
    limits = [points, cap_left(rule, member.rule_points.get(rule_id), moment), budget_left.get(rule_id)]
    return max(min(limit for limit in limits if limit is not None), 0)


def _ordered(config: ProgramConfig, trigger: str) -> list[tuple[str, EarningRule]]:
    return sorted(
        ((rule_id, rule) for rule_id, rule in config.earning_rules.items() if rule.trigger == trigger),
        key=lambda item: (item[1].priority, item[0]),
    )


def order_grants(
    config: ProgramConfig,
    member: Any,
    lines: Sequence[Line],
    context: dict[str, Any],
    moment: datetime,
    budget_left: Mapping[str, int],
) -> list[RuleGrant]:
    """The base rate and every applicable order rule, in stacking order, with the points each gives.

    `moment` is the local time of the order; `budget_left` what budgeted rules have left, when known.
    """
    settings = config.settings
    tier_multiplier = config.multiplier(member.tier)
    rate = settings.earn_rate
    values = {line.line_id: line.value for line in lines}
    base = {i: value * rate.points for i, value in values.items()}  # over rate.per_amount

    def scaled(rule_id: str, raw: dict[str, Decimal], per_amount: Decimal) -> RuleGrant:
        # Divide last (see points_for_amount); the tier scales each rule's own points, rounded once.
        points = max(settings.round_points(sum(raw.values(), Decimal(0)) * tier_multiplier / per_amount), 0)
        return RuleGrant(rule_id, points, spread(points, raw))

    grants = [scaled(BASE_RATE, base, rate.per_amount)]
    steps: dict[type, list[RuleGrant]] = {PerAmountEffect: [], MultiplierEffect: [], FixedEffect: []}
    for rule_id, rule in _ordered(config, "order"):
        ids = [line.line_id for line in lines if eligible(rule.items, line)]
        if not ids or not applies(rule, context, moment):
            continue
        effect = rule.effect
        if isinstance(effect, PerAmountEffect):
            grant = scaled(rule_id, {i: values[i] * effect.points for i in ids}, effect.per_amount)
        elif isinstance(effect, MultiplierEffect):
            grant = scaled(rule_id, {i: base[i] * (effect.factor - 1) for i in ids}, rate.per_amount)
        else:
            grant = RuleGrant(rule_id, effect.points, spread(effect.points, {i: values[i] for i in ids}))
        limited = _limited(rule_id, rule, grant.points, member, moment, budget_left)
        if limited != grant.points:
            grant = RuleGrant(rule_id, limited, spread(limited, {i: Decimal(p) for i, p in grant.lines.items()}))
        if grant.points > 0:
            steps[type(effect)].append(grant)
    return grants + [grant for step in steps.values() for grant in step]


def activity_grants(
    config: ProgramConfig,
    member: Any,
    activity_type: str,
    context: dict[str, Any],
    moment: datetime,
    budget_left: Mapping[str, int],
) -> list[RuleGrant] | None:
    """The fixed points of every applicable rule for this activity type (None: no rule applies)."""
    matched = [
        (rule_id, rule)
        for rule_id, rule in _ordered(config, "activity")
        if rule.activity_type == activity_type and applies(rule, context, moment)
    ]
    if not matched:
        return None
    grants = []
    for rule_id, rule in matched:
        assert isinstance(rule.effect, FixedEffect)  # the model allows no other effect on activities
        points = _limited(rule_id, rule, rule.effect.points, member, moment, budget_left)
        if points > 0:
            grants.append(RuleGrant(rule_id, points))
    return grants


def budget_plan(
    rule: EarningRule, counts: Sequence[int] | None, points: int, first_shard: int
) -> list[tuple[int, int]]:
    """Which budget counter shards pay for `points`, and how much each: `(shard, points)`.

    Unknown counts (the first attempt) put it all on `first_shard`, which spreads writes; after a
    shard ran out, the known counts take it from the shards with room, starting there.
    """
    shards = rule.budget_shards()
    if not shards or points <= 0:
        return []
    first = first_shard % shards
    if counts is None:
        return [(first, points)]
    plan, left = [], points
    for step in range(shards):
        shard = (first + step) % shards
        room = (rule.shard_budget(shard) or 0) - counts[shard]
        take = min(max(room, 0), left)
        if take:
            plan.append((shard, take))
            left -= take
        if not left:
            break
    return plan
