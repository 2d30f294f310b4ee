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
from loyalty.errors import InsufficientPoints

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
    # Recent redemptions of rewards with a per-member period limit, by reward id.
    reward_windows: dict[str, list[str]] = field(default_factory=dict)
    last_activity_at: datetime | None = None
    version: int = 0

    @property
    def erased(self) -> bool:
        return self.status == "erased"

    def qualifying_points(self, now: datetime, window_days: int) -> int:
        """Points of the calendar months wholly inside the window (the profile keeps months, not days)."""
        oldest = first_whole_month(now - timedelta(days=window_days))
        return sum(points for month, points in self.qualifying.items() if month >= oldest)


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


def credit(member: Member, config: ProgramConfig, lot: Lot, now: datetime) -> tuple[Member, str | None]:
    """The member after a credit, and the tier they reached if it is higher than before."""
    qualifying = dict(member.qualifying)
    month = month_key(lot.earned_at)
    qualifying[month] = qualifying.get(month, 0) + lot.points
    oldest = month_key(now - timedelta(days=config.settings.tier_window_days))
    qualifying = {m: p for m, p in qualifying.items() if m >= oldest}
    pending = is_pending(config, lot, now)
    after = replace(
        member,
        balance=member.balance + (0 if pending else lot.points),
        pending=member.pending + (lot.points if pending else 0),
        lifetime_points=member.lifetime_points + lot.points,
        qualifying=qualifying,
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
