"""Members, lots and ledger entries, and the arithmetic between them (no AWS)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from loyalty.domain.program import ProgramConfig, add_months, lot_expiry
from loyalty.errors import InsufficientPoints, LimitReached

EntryKind = Literal["earn", "redeem", "cancel", "expire", "reverse", "adjust"]

PROFILE_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "birthday",
    "country",
    "attributes",
    "consents",
)


@dataclass
class Member:
    program_id: str
    member_id: str
    enrolled_at: datetime
    status: str = "active"
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    birthday: str | None = None
    country: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    consents: dict[str, bool] = field(default_factory=dict)
    tier: str | None = None
    balance: int = 0
    pending: int = 0
    lifetime_points: int = 0
    # Qualifying points per calendar month (YYYY-MM), pruned to the tier window: the
    # profile carries what a tier decision needs, so no earn reads the ledger.
    qualifying: dict[str, int] = field(default_factory=dict)
    reward_counts: dict[str, int] = field(default_factory=dict)
    # Points per capped earning rule and local day (YYYY-MM-DD), pruned to the rule's cap window.
    rule_points: dict[str, dict[str, int]] = field(default_factory=dict)
    # Points a refund clawed back that the member had already spent; the next credits pay it first.
    debt: int = 0
    # Recent redemptions of rewards with a per-member period limit, by reward id.
    reward_windows: dict[str, list[str]] = field(default_factory=dict)
    last_activity_at: datetime | None = None
    # Order spend (program currency) and order count per calendar month (YYYY-MM), pruned to the
    # months the 365-day window touches (13 at most): segments read them without a ledger scan.
    spend: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, int] = field(default_factory=dict)
    # Earns per hour ("H<YYYY-MM-DDTHH>") and points per day ("D<YYYY-MM-DD>") of the current hour
    # and day only: the velocity caps are checked against them under the profile's version.
    velocity: dict[str, int] = field(default_factory=dict)
    # Fraud markers for admins ("velocity"); never shown to the member, never read by conditions.
    flags: list[str] = field(default_factory=list)
    version: int = 0

    @property
    def erased(self) -> bool:
        return self.status == "erased"

    def qualifying_points(self, now: datetime, window_days: int) -> int:
        """Points of the calendar months wholly inside the window (the profile keeps months, not days)."""
        oldest = first_whole_month(now - timedelta(days=window_days))
        return sum(points for month, points in self.qualifying.items() if month >= oldest)

    def spend_365d(self, now: datetime) -> Decimal:
        """Order spend in the calendar months wholly or partly inside the last 365 days.

        Month granularity: the oldest month counts whole, so the figure may include up to a month
        of spend just older than 365 days; it never misses spend inside the window.
        """
        oldest = aggregate_oldest_month(now)
        return sum((amount for month, amount in self.spend.items() if month >= oldest), Decimal(0))

    def orders_365d(self, now: datetime) -> int:
        """Orders in the calendar months wholly or partly inside the last 365 days (see `spend_365d`)."""
        oldest = aggregate_oldest_month(now)
        return sum(count for month, count in self.orders.items() if month >= oldest)


@dataclass
class Lot:
    """The points of one credit; `remaining` is the only part that ever changes."""

    lot_id: str
    source: str
    points: int
    remaining: int
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None
    # Pending until the activation job moves its points from `pending` to `balance`.
    pending: bool = False
    # Reminder windows (days before expiry) already sent for this lot.
    reminded: set[int] = field(default_factory=set)

    def spendable(self, now: datetime) -> bool:
        return (
            self.remaining > 0
            and not self.pending
            and self.available_at <= now
            and (self.expires_at is None or self.expires_at > now)
        )


@dataclass(frozen=True)
class Spend:
    lot_id: str
    source: str  # the lot's credit, "<source_kind>#<source_id>": where the lot is stored
    points: int
    remaining_before: int


@dataclass
class LedgerEntry:
    """One transaction. Keyed by its source (order, activity, redemption...), which makes
    the entry its own idempotency marker; a credit also carries its lot."""

    transaction_id: str
    kind: EntryKind
    source_kind: str
    source_id: str
    points: int  # signed: credits positive, debits negative
    recorded_at: datetime
    occurred_at: datetime
    request_hash: str
    lot: Lot | None = None
    spends: list[Spend] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # The member right after this transaction (balance, pending, tier, rules applied): what a replay answers.
    snapshot: dict[str, Any] = field(default_factory=dict)
    status: str | None = None


def month_key(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def first_whole_month(start: datetime) -> str:
    """The first calendar month that begins at or after `start`."""
    month_start = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return month_key(start if start == month_start else add_months(month_start, 1))


AGGREGATE_WINDOW_DAYS = 365


def aggregate_oldest_month(now: datetime) -> str:
    """The month 365 days ago: the oldest month the 365-day aggregates read and keep."""
    return month_key(now - timedelta(days=AGGREGATE_WINDOW_DAYS))


def hour_bucket(now: datetime) -> str:
    return "H" + now.strftime("%Y-%m-%dT%H")


def day_bucket(now: datetime) -> str:
    return "D" + now.strftime("%Y-%m-%d")


def velocity_refusal(member: Member, config: ProgramConfig, points: int, now: datetime) -> LimitReached | None:
    """Why an earn of `points` now would break a velocity cap (None: it may go ahead).

    Buckets are UTC hours and days of when the earn is recorded (a fixed window, not a sliding
    one). The profile's version condition makes the check exact under concurrent earns.
    """
    limits = config.settings.fraud
    earns = member.velocity.get(hour_bucket(now), 0)
    if limits.max_earns_per_hour is not None and earns + 1 > limits.max_earns_per_hour:
        return LimitReached(
            "the member reached the program's earns per hour",
            cap="max_earns_per_hour",
            limit=limits.max_earns_per_hour,
            used=earns,
        )
    day_points = member.velocity.get(day_bucket(now), 0)
    if limits.max_points_per_day is not None and day_points + points > limits.max_points_per_day:
        return LimitReached(
            "the member reached the program's points per day",
            cap="max_points_per_day",
            limit=limits.max_points_per_day,
            used=day_points,
            points=points,
        )
    return None


def request_hash(payload: dict[str, Any]) -> str:
    """Fingerprint of a request body: the same id with another payload is a conflict (128 bits suffice)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()[:16]).decode().rstrip("=")


def points_for_amount(config: ProgramConfig, amount: Decimal, tier_id: str | None) -> int:
    """floor(amount x earn rate x tier multiplier), with the program's rounding."""
    rate = config.settings.earn_rate
    # Divide last: dividing first rounds to 28 digits and 9.999... would floor to 9.
    raw = amount * rate.points * config.multiplier(tier_id) / rate.per_amount
    return max(config.settings.round_points(raw), 0)


def new_lot(
    config: ProgramConfig,
    lot_id: str,
    source: str,
    points: int,
    occurred_at: datetime,
    tier_id: str | None,
    now: datetime | None = None,
) -> Lot:
    """The lot of a credit; pending when `now` is before it becomes available."""
    lot = Lot(
        lot_id=lot_id,
        source=source,
        points=points,
        remaining=points,
        earned_at=occurred_at,
        available_at=occurred_at + timedelta(days=config.settings.pending_days),
        expires_at=lot_expiry(config, occurred_at, tier_id),
    )
    lot.pending = now is not None and is_pending(config, lot, now)
    return lot


def is_pending(config: ProgramConfig, lot: Lot, now: datetime) -> bool:
    """Pending until `available_at`; a program without a pending period credits at once,
    even for a till whose clock runs a little fast."""
    return config.settings.pending_days > 0 and lot.available_at > now


def settle_debt(member: Member, lot: Lot) -> int:
    """A new lot pays the member's refund debt first: it keeps only the rest. Returns the points paid."""
    paid = min(member.debt, lot.remaining)
    lot.remaining -= paid
    return paid


def settle_debt_from_refills(debt: int, spends: list[Spend]) -> tuple[list[Spend], int]:
    """Points given back (a cancelled redemption) pay the member's refund debt first, taken from the
    redemption's first spends (its soonest-expiring lots); the lots get only the rest back.

    Without this a member who owes points would get spendable points back while still owing.
    Returns the refills left (none of zero points) and the points paid."""
    paid = min(debt, sum(spend.points for spend in spends))
    owed, refills = paid, []
    for spend in spends:
        taken = min(owed, spend.points)
        owed -= taken
        if spend.points > taken:
            refills.append(replace(spend, points=spend.points - taken))
    return refills, paid


def credit(
    member: Member, config: ProgramConfig, lot: Lot, now: datetime, order_amount: Decimal | None = None
) -> tuple[Member, str | None]:
    """The member after a credit, and the tier they reached if it is higher than before.

    An order's credit (`order_amount` given, in the program currency) also counts into the
    month's spend and orders; every credit counts into the velocity buckets of `now`. Balance (or
    pending) grows by what the lot holds; the points `settle_debt` took from it pay the debt.
    """
    spend, orders = dict(member.spend), dict(member.orders)
    if order_amount is not None:
        month = month_key(lot.earned_at)
        spend[month] = spend.get(month, Decimal(0)) + order_amount
        orders[month] = orders.get(month, 0) + 1
        kept = aggregate_oldest_month(now)
        spend = {m: a for m, a in spend.items() if m >= kept}
        orders = {m: n for m, n in orders.items() if m >= kept}
    hour, day = hour_bucket(now), day_bucket(now)
    velocity = {hour: member.velocity.get(hour, 0) + 1, day: member.velocity.get(day, 0) + lot.points}
    qualifying = dict(member.qualifying)
    month = month_key(lot.earned_at)
    qualifying[month] = qualifying.get(month, 0) + lot.points
    oldest = month_key(now - timedelta(days=config.settings.tier_window_days))
    qualifying = {m: p for m, p in qualifying.items() if m >= oldest}
    pending = is_pending(config, lot, now)
    after = replace(
        member,
        balance=member.balance + (0 if pending else lot.remaining),
        pending=member.pending + (lot.remaining if pending else 0),
        debt=member.debt - (lot.points - lot.remaining),
        lifetime_points=member.lifetime_points + lot.points,
        qualifying=qualifying,
        spend=spend,
        orders=orders,
        velocity=velocity,
        last_activity_at=now,
    )
    reached = config.tier_for(after.qualifying_points(now, config.settings.tier_window_days))
    # Earning never lowers a tier: downgrades happen at review, after the tier's validity.
    if config.tier_rank(reached) > config.tier_rank(member.tier):
        after.tier = reached
        return after, reached
    return after, None


def spend_soonest_expiring_first(lots: list[Lot], points: int, now: datetime) -> list[Spend]:
    """Which lots pay for `points`: spendable lots by expiry (never-expiring last), then age."""
    if points <= 0:
        return []
    candidates = sorted(
        (lot for lot in lots if lot.spendable(now)),
        key=lambda lot: (lot.expires_at is None, lot.expires_at or lot.earned_at, lot.earned_at, lot.lot_id),
    )
    available = sum(lot.remaining for lot in candidates)
    if available < points:
        raise InsufficientPoints("the member does not have enough points", required=points, available=available)
    spends: list[Spend] = []
    left = points
    for lot in candidates:
        take = min(lot.remaining, left)
        spends.append(Spend(lot.lot_id, lot.source, take, lot.remaining))
        left -= take
        if left == 0:
            break
    return spends
