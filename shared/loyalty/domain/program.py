"""Program configuration: settings, tiers, rewards, earning rules and segments, as validated data (no AWS)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, time, timedelta
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_UP,
    Clamped,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    Subnormal,
    Underflow,
)
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from loyalty.errors import ValidationFailed

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]

_T = TypeVar("_T")

# DynamoDB numbers hold at most 38 digits, magnitudes 1e-130 to below 1e126; boto3's serialiser refuses
# what its own context (exponents -128 to 126, 38 digits) would round. Any signal here is a refusal.
_DYNAMODB_NUMBER = Context(
    prec=38,
    Emin=-128,
    Emax=125,
    traps=[Clamped, InvalidOperation, Inexact, Overflow, Rounded, Subnormal, Underflow],
)


def _storable(value: Any, path: str = "") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "":
                raise ValueError(f"an empty key{f' in {path}' if path else ''}: DynamoDB cannot store it")
            _storable(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            _storable(item, f"{path}[{n}]")
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        # Floats are stored as their shortest text, like the store does.
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        try:
            if not number.is_finite():
                raise ArithmeticError
            _DYNAMODB_NUMBER.create_decimal(number)
        except ArithmeticError:
            where = f" at {path}" if path else ""
            raise ValueError(
                f"the number{where} cannot be stored (at most 38 digits, magnitude 1e-128 to below 1e126)"
            ) from None


def _check_storable(value: _T) -> _T:
    _storable(value)
    return value


# A free-form map (member attributes, metadata, message templates) stored as a DynamoDB map, whatever
# its depth: DynamoDB refuses empty attribute names at any depth and numbers it cannot hold (a 500 then).
Storable = AfterValidator(_check_storable)


def known_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{value} is not an IANA time zone") from error
    return value


_ROUNDING = {"floor": ROUND_FLOOR, "round": ROUND_HALF_UP, "ceil": ROUND_CEILING}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EarnRate(_Model):
    points: int = Field(1, ge=0, le=1_000_000)
    per_amount: Decimal = Field(Decimal(1), gt=0, le=1_000_000)


class RollingExpiry(_Model):
    policy: Literal["rolling"]
    days: int = Field(ge=1, le=36_500)


class InactivityExpiry(_Model):
    policy: Literal["inactivity"]
    days: int = Field(ge=1, le=36_500)


class EndOfPeriodExpiry(_Model):
    policy: Literal["end_of_period"]
    period: Literal["month", "quarter", "year"]
    periods_after: int = Field(0, ge=0, le=100)


class NeverExpiry(_Model):
    policy: Literal["never"]


ExpiryPolicy = Annotated[
    RollingExpiry | InactivityExpiry | EndOfPeriodExpiry | NeverExpiry, Field(discriminator="policy")
]


class Reminders(_Model):
    expiring_days_before: list[Annotated[int, Field(ge=1, le=365)]] = Field(default_factory=list, max_length=5)
    welcome_days_after: list[Annotated[int, Field(ge=0, le=365)]] = Field(default_factory=list, max_length=5)
    birthday: bool = False


class MessageTemplate(_Model):
    """One message in one language; `{name}` placeholders take the event's fields (points, expires_at, ...)."""

    subject: str = Field(max_length=200)
    body: str = Field(max_length=4000)


class FraudLimits(_Model):
    """Velocity caps on earning, per member (None: no cap). Counted by when the earn is recorded,
    not by `occurred_at`, so back-dated orders cannot slip past a cap (a till's late batch upload
    counts in the hour it arrives)."""

    max_earns_per_hour: int | None = Field(None, ge=1, le=1_000_000)
    max_points_per_day: int | None = Field(None, ge=1, le=10**12)


class ProgramSettings(_Model):
    """What `PUT /v1/programs/{program_id}` takes."""

    name: str = Field(min_length=1, max_length=200)
    currency: str = Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")
    earn_rate: EarnRate = Field(default_factory=EarnRate)
    rounding: Literal["floor", "round", "ceil"] = "floor"
    expiry: ExpiryPolicy = Field(default_factory=lambda: NeverExpiry(policy="never"))
    pending_days: int = Field(0, ge=0, le=365)
    tier_window_days: int = Field(365, ge=1, le=3650)
    # At review, a member below their tier's threshold drops one level, or straight to the tier they qualify for.
    tier_downgrade: Literal["one_level", "to_qualified"] = "one_level"
    reminders: Reminders = Field(default_factory=Reminders)
    # Points per custom activity type until earning rules replace them.
    activity_points: dict[Identifier, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(default_factory=dict)
    # Value of one point in the program's currency, for the liability figure.
    point_value: Decimal = Field(Decimal("0.01"), ge=0, le=1_000_000)
    # Message templates by event type ("reminder.points_expiring", ...) and language ("en", "de", ...).
    notification_templates: Annotated[dict[str, dict[str, MessageTemplate]], Storable] = Field(default_factory=dict)
    # Calendar periods (end_of_period expiry, daily reports) are the program's local ones.
    timezone: str = Field("UTC", max_length=64)
    fraud: FraudLimits = Field(default_factory=FraudLimits)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return known_timezone(value)

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        import pycountry  # only the admin path pays for the ISO 4217 table

        if pycountry.currencies.get(alpha_3=value) is None:
            raise ValueError(f"{value} is not an ISO 4217 currency")
        return value

    def round_points(self, raw: Decimal) -> int:
        return int(raw.quantize(Decimal(1), rounding=_ROUNDING[self.rounding]))


class Tier(_Model):
    """What `PUT .../tiers/{tier_id}` takes."""

    name: str = Field(min_length=1, max_length=200)
    threshold: int = Field(ge=0, le=10**12)
    earn_multiplier: Decimal = Field(Decimal(1), ge=0, le=100)
    expiry_days: int | None = Field(None, ge=1, le=36_500)


class RewardValue(_Model):
    """What a reward is worth to the member; which fields apply depends on the reward's type."""

    percent: Decimal | None = Field(None, gt=0, le=100)
    amount: Decimal | None = Field(None, gt=0, le=Decimal("1e9"))
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    # cashback / pay-with-points: money per point, and the points a redemption may choose
    # (from the reward's cost up to max_points, in steps of step_points).
    amount_per_point: Decimal | None = Field(None, gt=0, le=1000)
    max_points: int | None = Field(None, ge=1, le=10**9)
    step_points: int | None = Field(None, ge=1, le=10**9)


# The value fields each reward type accepts, and those it requires.
_VALUE_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "discount": ({"percent", "amount", "currency"}, set()),
    "free_shipping": ({"amount", "currency"}, set()),
    "gift_card": ({"amount", "currency"}, set()),
    "product": ({"amount", "currency"}, set()),
    "cashback": ({"amount_per_point", "currency", "max_points", "step_points"}, {"amount_per_point", "currency"}),
}


class RewardLimits(_Model):
    per_member: int | None = Field(None, ge=1)
    per_member_period_days: int | None = Field(None, ge=1)
    total: int | None = Field(None, ge=0)
    points_budget: int | None = Field(None, ge=0)


class Reward(_Model):
    """What `PUT .../rewards/{reward_id}` takes."""

    name: str = Field(min_length=1, max_length=200)
    type: Literal["discount", "free_shipping", "gift_card", "product", "cashback"]
    cost: int = Field(ge=1, le=10**9)
    value: RewardValue | None = None
    active: bool = True
    stock: int | None = Field(None, ge=0)
    limits: RewardLimits = Field(default_factory=RewardLimits)
    eligibility: str | None = Field(None, max_length=2000)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    tier_costs: dict[Identifier, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    # At most one code of a group is consumed per order (e.g. one discount per basket).
    exclusivity_group: Identifier | None = None

    @model_validator(mode="after")
    def _value_fits_type(self) -> Reward:
        allowed, required = _VALUE_FIELDS[self.type]
        given = set(self.value.model_dump(exclude_none=True)) if self.value else set()
        if given - allowed:
            raise ValueError(
                f"a {self.type} reward's value takes only {sorted(allowed)}, not {sorted(given - allowed)}"
            )
        if required - given:
            raise ValueError(f"a {self.type} reward's value needs {sorted(required)}")
        if self.value is None:
            return self
        if self.value.percent is not None and self.value.amount is not None:
            raise ValueError("a discount is a percent or an amount, not both")
        if (self.value.amount is None) != (self.value.currency is None) and self.type != "cashback":
            raise ValueError("an amount needs its currency and a currency its amount")
        if self.type == "discount" and self.value.percent is None and self.value.amount is None:
            raise ValueError("a discount's value needs a percent or an amount with its currency")
        if self.type == "cashback":
            if self.tier_costs:
                raise ValueError("a cashback reward is priced by the points chosen, not by tier")
            top, step = self.value.max_points or self.cost, self.value.step_points or 1
            if top < self.cost or (top - self.cost) % step:
                raise ValueError("max_points must be the cost plus a whole number of steps")
        return self

    @field_validator("eligibility")
    @classmethod
    def _valid_condition(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from loyalty.domain.conditions import check  # only saving or running a condition pays for CEL

        return check(value)

    def cost_for(self, tier_id: str | None) -> int:
        return self.tier_costs.get(tier_id or "", self.cost)

    def points_for(self, tier_id: str | None, chosen: int | None) -> int:
        """Points one unit costs: a cashback's chosen points (cost to max_points, in steps), else the price."""
        if self.type != "cashback":
            if chosen is not None:
                raise ValidationFailed("only a cashback reward takes points", field="points")
            return self.cost_for(tier_id)
        assert self.value is not None and self.value.amount_per_point is not None
        if chosen is None:
            return self.cost
        top, step = self.value.max_points or self.cost, self.value.step_points or 1
        if not self.cost <= chosen <= top or (chosen - self.cost) % step:
            raise ValidationFailed(
                f"points must be {self.cost} to {top} in steps of {step}",
                field="points",
                min=self.cost,
                max=top,
                step=step,
            )
        return chosen

    def value_for(self, points: int, quantity: int) -> dict[str, Any] | None:
        """The value a redemption gives; a cashback's money is its points at the rate, rounded down to cents."""
        if self.value is None:
            return None
        shown = self.value.model_dump(mode="json", exclude_none=True)
        if self.type == "cashback":
            assert self.value.amount_per_point is not None
            money = (points * quantity * self.value.amount_per_point).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
            return {"amount": str(money), "currency": self.value.currency, "points": points * quantity}
        return shown

    def caps(self) -> tuple[int | None, int | None]:
        """The tightest unit cap across stock and total, and the points budget."""
        unit_caps = [c for c in (self.stock, self.limits.total) if c is not None]
        return (min(unit_caps) if unit_caps else None), self.limits.points_budget

    def counter_shards(self) -> int:
        """How many counter items share the reward's caps (0: no caps, no counter)."""
        return counter_shards(*self.caps())

    def shard_caps(self, shard: int) -> tuple[int | None, int | None]:
        """The part of each cap that counter shard `shard` may use: the shares add up to the cap."""
        return shard_caps(*self.caps(), self.counter_shards(), shard)


COUNTER_SHARDS = 8


class Segment(_Model):
    """What `PUT .../segments/{segment_id}` takes: a named condition over the member and `now`."""

    name: str = Field(min_length=1, max_length=200)
    condition: str = Field(min_length=1, max_length=2000)

    @field_validator("condition")
    @classmethod
    def _valid_condition(cls, value: str) -> str:
        from loyalty.domain.conditions import SEGMENT_NAMES, check

        return check(value, SEGMENT_NAMES)


def share(total: int, parts: int, index: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


def counter_shards(unit_cap: int | None, budget: int | None) -> int:
    """How many counter items share a unit cap and a points budget (0: no caps, no counter).

    Every write under a cap (a redemption of a capped reward, an earn through a budgeted rule)
    updates its counter: a reward taking a third of a program's 2,000 redemptions/s would put
    ~700 writes/s on one item (a partition takes 1,000). Eight shards keep each under ~100; a
    small unit cap uses fewer, one unit each at least.
    """
    if unit_cap is None and budget is None:
        return 0
    return max(1, min(COUNTER_SHARDS, unit_cap if unit_cap is not None else COUNTER_SHARDS))


def shard_caps(unit_cap: int | None, budget: int | None, shards: int, shard: int) -> tuple[int | None, int | None]:
    """The part of each cap that counter shard `shard` of `shards` may use: the shares add up to the cap."""
    return (
        None if unit_cap is None else share(unit_cap, shards, shard),
        None if budget is None else share(budget, shards, shard),
    )


Weekday = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
WEEKDAYS: tuple[Weekday, ...] = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
Names = Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=200)]


class PerAmountEffect(_Model):
    """`points` per `per_amount` of the eligible lines' value."""

    type: Literal["per_amount"]
    points: int = Field(ge=1, le=1_000_000)
    per_amount: Decimal = Field(Decimal(1), gt=0, le=1_000_000)


class FixedEffect(_Model):
    type: Literal["fixed"]
    points: int = Field(ge=1, le=1_000_000)


class MultiplierEffect(_Model):
    """The base-rate points of the eligible lines, times `factor` (the rule gives the extra)."""

    type: Literal["multiplier"]
    factor: Decimal = Field(gt=1, le=100)


RuleEffect = Annotated[PerAmountEffect | FixedEffect | MultiplierEffect, Field(discriminator="type")]


class ItemFilter(_Model):
    """Which order lines a rule counts: in a listed category or sku (when any are listed), not excluded."""

    categories: Names = Field(default_factory=list)
    skus: Names = Field(default_factory=list)
    exclude_categories: Names = Field(default_factory=list)
    exclude_skus: Names = Field(default_factory=list)


class RuleCaps(_Model):
    """At most `points` from the rule per member within any `period_days` days."""

    points: int = Field(ge=1, le=10**9)
    period_days: int = Field(ge=1, le=366)


class RuleSchedule(_Model):
    """When a rule runs: on these local weekdays, between these local hours (`from` > `to` spans midnight)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    weekdays: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1, max_length=7)
    from_: time | None = Field(None, alias="from")
    to: time | None = None
    timezone: str | None = Field(None, max_length=64)  # None: the program's

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return None if value is None else known_timezone(value)

    @model_validator(mode="after")
    def _hours(self) -> RuleSchedule:
        if (self.from_ is None) != (self.to is None):
            raise ValueError("a schedule takes both `from` and `to`, or neither")
        if self.from_ is not None and self.from_ == self.to:
            raise ValueError("`from` and `to` must differ")
        return self


class EarningRule(_Model):
    """What `PUT .../earning-rules/{rule_id}` takes."""

    name: str = Field(min_length=1, max_length=200)
    trigger: Literal["order", "activity"]
    activity_type: Identifier | None = None
    condition: str | None = Field(None, max_length=2000)
    effect: RuleEffect
    items: ItemFilter | None = None
    caps: RuleCaps | None = None
    budget: int | None = Field(None, ge=1, le=10**12)  # points the rule may ever give, over all members
    schedule: RuleSchedule | None = None
    active: bool = True
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    priority: int = Field(0, ge=-1000, le=1000)  # lower first in `applied_rules`

    @field_validator("condition")
    @classmethod
    def _valid_condition(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from loyalty.domain.conditions import check  # only saving or running a condition pays for CEL

        return check(value)

    @model_validator(mode="after")
    def _consistent(self) -> EarningRule:
        if self.trigger == "activity":
            if self.activity_type is None:
                raise ValueError("an activity rule names its activity_type")
            if not isinstance(self.effect, FixedEffect):
                raise ValueError("an activity has no amount: an activity rule's effect is fixed")
            if self.items is not None:
                raise ValueError("an activity has no order lines: items apply to order rules only")
        elif self.activity_type is not None:
            raise ValueError("activity_type applies to activity rules only")
        if self.valid_from and self.valid_until and self.valid_from >= self.valid_until:
            raise ValueError("valid_from must be before valid_until")
        return self

    def budget_shards(self) -> int:
        """How many counter items share the rule's points budget (0: no budget)."""
        return counter_shards(None, self.budget)

    def shard_budget(self, shard: int) -> int | None:
        return shard_caps(None, self.budget, self.budget_shards(), shard)[1]


class ProgramConfig(BaseModel):
    """Everything stored under one program, loaded together and cached."""

    program_id: str
    settings: ProgramSettings
    tiers: dict[str, Tier] = Field(default_factory=dict)
    rewards: dict[str, Reward] = Field(default_factory=dict)
    segments: dict[str, Segment] = Field(default_factory=dict)
    earning_rules: dict[str, EarningRule] = Field(default_factory=dict)

    def tiers_by_threshold(self) -> list[tuple[str, Tier]]:
        return sorted(self.tiers.items(), key=lambda item: (item[1].threshold, item[0]))

    def entry_tier(self) -> str | None:
        ordered = self.tiers_by_threshold()
        return ordered[0][0] if ordered else None

    def tier_for(self, qualifying_points: int) -> str | None:
        """The highest tier whose threshold the qualifying points reach."""
        reached = [tier_id for tier_id, tier in self.tiers_by_threshold() if tier.threshold <= qualifying_points]
        return reached[-1] if reached else self.entry_tier()

    def tier_rank(self, tier_id: str | None) -> int:
        ids = [tier_id for tier_id, _ in self.tiers_by_threshold()]
        return ids.index(tier_id) if tier_id in ids else -1

    def multiplier(self, tier_id: str | None) -> Decimal:
        tier = self.tiers.get(tier_id or "")
        return tier.earn_multiplier if tier else Decimal(1)


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def lot_expiry(config: ProgramConfig, occurred_at: datetime, tier_id: str | None) -> datetime | None:
    """When the points of a credit that happened at `occurred_at` expire (None: never).

    `inactivity` lots carry no date of their own: the member's last activity decides,
    and the expiry sweep applies it (see the time issue); here they never expire per lot.
    """
    policy = config.settings.expiry
    tier = config.tiers.get(tier_id or "")
    if isinstance(policy, RollingExpiry):
        days = tier.expiry_days if tier and tier.expiry_days else policy.days
        return occurred_at + timedelta(days=days)
    if isinstance(policy, EndOfPeriodExpiry):
        months = {"month": 1, "quarter": 3, "year": 12}[policy.period]
        zone = ZoneInfo(config.settings.timezone)
        local = occurred_at.astimezone(zone)
        start_month = local.month - (local.month - 1) % months
        period_start = local.replace(month=start_month, day=1, hour=0, minute=0, second=0, microsecond=0)
        # The end of the K-th period after the one the earn falls in, at local midnight.
        end = add_months(period_start.replace(tzinfo=None), months * (policy.periods_after + 1))
        return end.replace(tzinfo=zone).astimezone(UTC)
    return None


def redeemed_in_window(recent: list[str], now: datetime, days: int) -> tuple[int, list[str]]:
    """Units redeemed in the `days` before `now`, and the entries ("<ISO time>|<units>") still inside it.

    The profile keeps one entry per redemption of a reward with a period limit, pruned at every
    redemption, so the window is rolling ("1 per 30 days" means 30 days after the last one).
    """
    start = now - timedelta(days=days)
    kept = [entry for entry in recent if datetime.fromisoformat(entry.split("|", 1)[0]) > start]
    return sum(int(entry.split("|", 1)[1]) for entry in kept), kept


def window_entry(now: datetime, quantity: int) -> str:
    return f"{now.isoformat()}|{quantity}"
