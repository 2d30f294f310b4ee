"""Points in time: expiry sweeps, pending activation, tier review and reminders.

Every job takes its "now" from the scheduler event, reads only due work from the sparse
GSI1 (never a Scan), and makes each change in its own conditional transaction, so a job
run twice, or two runs at once, change nothing twice.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ulid import ULID

from loyalty.domain.ledger import LedgerEntry, Member, Spend, request_hash
from loyalty.domain.program import InactivityExpiry, ProgramConfig
from loyalty.errors import NotFound
from loyalty.services.events import event
from loyalty.services.programs import ProgramCache
from loyalty.store import keys
from loyalty.store.jobs import Due
from loyalty.store.store import Cancelled, LoyaltyStore

# A sweep also reads the days before today, so a missed or failed run is caught up by the next.
LOOKBACK_DAYS = 7
# Reminder markers live a little longer than the longest window they guard.
REMINDER_MARKER_DAYS = 400

SWEEP_TASKS = {"expiry-sweep": "expire", "pending-activation": "activate"}


@dataclass
class JobReport:
    """What a job did, for its log line and the local /_local/jobs answer."""

    read: int = 0
    changed: int = 0
    skipped: int = 0
    points: int = 0
    details: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "items_read": self.read,
            "changed": self.changed,
            "skipped": self.skipped,
            "points": self.points,
            **self.details,
        }


def inactivity_due(config: ProgramConfig, now: datetime) -> tuple[Due, ...]:
    """Under the inactivity policy, every earn or redeem moves the date all points expire."""
    policy = config.settings.expiry
    return (Due("inactivity", at=now + timedelta(days=policy.days)),) if isinstance(policy, InactivityExpiry) else ()


def days_back(now: datetime, lookback: int = LOOKBACK_DAYS) -> list[str]:
    return [(now - timedelta(days=n)).strftime("%Y-%m-%d") for n in range(lookback, -1, -1)]


def sweep_messages(job: str, now: datetime) -> list[dict[str, Any]]:
    """One queue message per index shard: workers sweep the shards in parallel."""
    task = SWEEP_TASKS[job]
    return [
        {"task": task, "shard": shard, "days": days_back(now), "now": now.isoformat()}
        for shard in range(keys.EXPIRY_SHARDS)
    ]


def _due(store: LoyaltyStore, job: str, days: list[str], shard: int, until: datetime) -> Iterator[dict[str, Any]]:
    for day in days:
        start: dict[str, Any] | None = None
        while True:
            items, start = store.due_items(job, day, shard, until, start)
            yield from items
            if not start:
                break


def sweep_shard(store: LoyaltyStore, task: str, shard: int, days: list[str], now: datetime) -> JobReport:
    """Expire (or activate) every due lot of one shard."""
    report = JobReport()
    job = keys.EXPIRING if task == "expire" else keys.AVAILABLE
    for item in _due(store, job, days, shard, now):
        report.read += 1
        try:
            if task == "activate":
                points = activate_lot(store, item, now)
            elif item["SK"] == keys.due_sk("inactivity"):
                points = expire_inactive_member(store, item, now)
            else:
                points = expire_lot(store, item, now)
        except Cancelled:
            # Spent, expired or activated meanwhile (the index lags the table): nothing to do.
            report.skipped += 1
            continue
        report.changed += 1
        report.points += points
    return report


def expire_lot(store: LoyaltyStore, lot: dict[str, Any], now: datetime) -> int:
    remaining = lot["remaining"]
    if remaining <= 0:
        raise Cancelled({"lot": None})
    program_id, member_id, lot_id = lot["program_id"], lot["member_id"], lot["transaction_id"]
    source = f"{lot['source_kind']}#{lot['source_id']}"
    # One entry per expiry of this lot: `expirations` counts them (a cancelled redemption may refill an expired lot).
    source_id = f"{lot_id}.{lot.get('expirations', 0)}"
    transaction_id = f"{lot_id}_exp{lot.get('expirations', 0)}"
    entry = LedgerEntry(
        transaction_id=transaction_id,
        kind="expire",
        source_kind="expire",
        source_id=source_id,
        points=-remaining,
        recorded_at=now,
        occurred_at=datetime.fromisoformat(lot["expires_at"]),
        request_hash=request_hash({"expire": source_id}),
        spends=[Spend(lot_id, source, remaining, remaining)],
        details={"lot_id": lot_id, "expires_at": lot["expires_at"]},
    )
    outbox = [
        event(
            "points.expired",
            program_id,
            member_id,
            transaction_id=transaction_id,
            points=remaining,
            lot_id=lot_id,
            expires_at=lot["expires_at"],
        )
    ]
    store.record_expiry(lot, entry, outbox)
    return int(remaining)


def expire_inactive_member(store: LoyaltyStore, due: dict[str, Any], now: datetime) -> int:
    """Every available point of a member whose last earn or redeem is too long ago, in one entry."""
    program_id, member_id = due["program_id"], due["member_id"]
    member, _ = store.get_member_and_open_lots(program_id, member_id)
    if member is None:
        raise Cancelled({"member": None})
    items = [i for i in store.member_items(program_id, member_id) if i.get("OPEN_SK", "").startswith("LOT#")]
    lots = [i for i in items if i.get("remaining", 0) > 0 and not i.get("pending_lot")]
    # A transaction holds 100 items: the due item, the entry and the profile leave room for 97 lots;
    # a member with more open lots loses the rest at the next sweep (the due item is re-armed below).
    lots = lots[:97]
    total = sum(lot["remaining"] for lot in lots)
    transaction_id = f"inactive_{due['due_at'][:10]}_{member.version}"
    entry = LedgerEntry(
        transaction_id=transaction_id,
        kind="expire",
        source_kind="expire",
        source_id=transaction_id,
        points=-total,
        recorded_at=now,
        occurred_at=datetime.fromisoformat(due["due_at"]),
        request_hash=request_hash({"inactive": transaction_id}),
        spends=[
            Spend(i["transaction_id"], f"{i['source_kind']}#{i['source_id']}", i["remaining"], i["remaining"])
            for i in lots
        ],
        details={
            "reason": "inactivity",
            "last_activity_at": member.last_activity_at.isoformat() if member.last_activity_at else None,
        },
    )
    outbox = [
        event("points.expired", program_id, member_id, transaction_id=transaction_id, points=total, reason="inactivity")
    ]
    store.record_inactivity_expiry(due, lots, entry, outbox)
    return total


def activate_lot(store: LoyaltyStore, lot: dict[str, Any], now: datetime) -> int:
    expires_at = lot.get("expires_at")
    # A lot that expires before it becomes available expires at the next sweep.
    expiry_due = (
        keys.expiry_due(datetime.fromisoformat(expires_at), now) if expires_at and expires_at != keys.NEVER else None
    )
    store.record_activation(lot, expiry_due)
    return int(lot["remaining"])


# ------------------------------------------------------------------ tier review


def reviewed_tier(config: ProgramConfig, member: Member, now: datetime) -> str | None:
    """The tier after review: kept while the member still qualifies, else lowered."""
    window = config.settings.tier_window_days
    qualified = config.tier_for(member.qualifying_points(now, window))
    if config.tier_rank(qualified) >= config.tier_rank(member.tier):
        return member.tier
    if config.settings.tier_downgrade == "to_qualified":
        return qualified
    ordered = [tier_id for tier_id, _ in config.tiers_by_threshold()]
    return ordered[max(config.tier_rank(member.tier) - 1, 0)]


def review_tiers(store: LoyaltyStore, cache: ProgramCache, now: datetime) -> JobReport:
    report = JobReport(details={"downgraded": 0, "kept": 0})
    for shard in range(keys.EXPIRY_SHARDS):
        for due in _due(store, keys.TIER_REVIEW, days_back(now), shard, now):
            report.read += 1
            try:
                outcome = _review_member(store, cache, due, now)
            except (Cancelled, NotFound):
                report.skipped += 1
                continue
            report.details[outcome] += 1
            report.changed += 1
    return report


def _review_member(store: LoyaltyStore, cache: ProgramCache, due: dict[str, Any], now: datetime) -> str:
    config = cache.get(store, due["program_id"])
    member = store.get_member(due["program_id"], due["member_id"])
    if member is None or member.erased:
        raise NotFound("member not found")
    new_tier = reviewed_tier(config, member, now)
    window = timedelta(days=config.settings.tier_window_days)
    review_at = None if new_tier == config.entry_tier() else now + window
    outbox_id = str(ULID.from_datetime(now))
    outbox = []
    if new_tier != member.tier:
        outbox.append(
            event("tier.changed", member.program_id, member.member_id, old=member.tier, new=new_tier, reason="review")
        )
    store.record_tier_review(
        member.program_id, member.member_id, member.version, new_tier, review_at, outbox_id, outbox
    )
    return "downgraded" if new_tier != member.tier else "kept"


# ------------------------------------------------------------------ reminders


def wants_messages(member: Member) -> list[str]:
    """The channels the member agreed to; none means no reminder."""
    consents = member.consents
    return [channel for channel in ("email", "sms", "push") if consents.get(f"marketing_{channel}")]


def send_reminders(store: LoyaltyStore, cache: ProgramCache, now: datetime) -> JobReport:
    """Points-expiring, welcome and birthday reminders, each once, to members who agreed."""
    report = JobReport(details={"reminders": 0})
    configs = {}
    for program_id in store.program_ids():
        try:
            configs[program_id] = cache.get(store, program_id)
        except NotFound:
            continue
    _expiring_reminders(store, configs, now, report)
    _welcome_reminders(store, configs, now, report)
    _birthday_reminders(store, configs, now, report)
    return report


def _send(
    store: LoyaltyStore,
    report: JobReport,
    program_id: str,
    member_id: str,
    reminder_id: str,
    fields: dict[str, Any],
    now: datetime,
    lots: tuple[tuple[dict[str, Any], int], ...] = (),
) -> None:
    """One reminder to one member, if they agreed to messages; its marker makes it once only."""
    member = store.get_member(program_id, member_id)
    report.read += 1
    channels = wants_messages(member) if member and not member.erased else []
    if not channels:
        report.skipped += 1
        return
    outbox = [event(program_id=program_id, member_id=member_id, channels=channels, **fields)]
    try:
        store.record_reminder(
            program_id, member_id, reminder_id, list(lots), outbox, now + timedelta(days=REMINDER_MARKER_DAYS)
        )
    except Cancelled:
        report.skipped += 1  # another run sent it
        return
    report.changed += 1
    report.details["reminders"] += 1
    report.details[fields["event_type"]] = report.details.get(fields["event_type"], 0) + 1


def _expiring_reminders(
    store: LoyaltyStore, configs: dict[str, ProgramConfig], now: datetime, report: JobReport
) -> None:
    windows = sorted({w for c in configs.values() for w in c.settings.reminders.expiring_days_before})
    for window in windows:
        # Lots whose expiry day came within the window today (or yesterday, should a run be missed).
        days = [(now + timedelta(days=window - n)).strftime("%Y-%m-%d") for n in (1, 0)]
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for shard in range(keys.EXPIRY_SHARDS):
            for lot in _due(store, keys.EXPIRING, days, shard, now + timedelta(days=window)):
                report.read += 1
                config = configs.get(lot["program_id"])
                if config is None or window not in config.settings.reminders.expiring_days_before:
                    continue
                if lot["SK"].startswith("DUE#") or window in set(lot.get("reminded") or ()):
                    continue
                groups[(lot["program_id"], lot["member_id"])].append(lot)
        for (program_id, member_id), lots in groups.items():
            lots.sort(key=lambda lot: lot["expires_at"])
            fields = {
                "event_type": "reminder.points_expiring",
                "points": sum(lot["remaining"] for lot in lots),
                "expires_at": lots[0]["expires_at"],
                "window_days": window,
                "lots": [lot["transaction_id"] for lot in lots],
            }
            reminder_id = f"expiring-{window}-{lots[0]['transaction_id']}"
            _send(store, report, program_id, member_id, reminder_id, fields, now, tuple((lot, window) for lot in lots))


def _welcome_reminders(
    store: LoyaltyStore, configs: dict[str, ProgramConfig], now: datetime, report: JobReport
) -> None:
    for days_after in sorted({d for c in configs.values() for d in c.settings.reminders.welcome_days_after}):
        enrolled = now - timedelta(days=days_after)
        days = [(enrolled - timedelta(days=n)).strftime("%Y-%m-%d") for n in (1, 0)]
        for shard in range(keys.EXPIRY_SHARDS):
            for due in _due(store, keys.ENROLLED, days, shard, enrolled):
                report.read += 1
                config = configs.get(due["program_id"])
                if config is None or days_after not in config.settings.reminders.welcome_days_after:
                    continue
                fields = {"event_type": "reminder.welcome", "days_after": days_after, "enrolled_at": due["due_at"]}
                _send(store, report, due["program_id"], due["member_id"], f"welcome-{days_after}", fields, now)


def _birthday_reminders(
    store: LoyaltyStore, configs: dict[str, ProgramConfig], now: datetime, report: JobReport
) -> None:
    if not any(c.settings.reminders.birthday for c in configs.values()):
        return
    for day in (now - timedelta(days=1), now):
        month_days = [day.strftime("%m-%d")]
        if month_days == ["02-28"] and not calendar.isleap(day.year):
            month_days.append("02-29")  # celebrated on the 28th in other years
        for month_day in month_days:
            for shard in range(keys.EXPIRY_SHARDS):
                for due in store.due_in(keys.birthday_shard_partition(month_day, shard)):
                    report.read += 1
                    config = configs.get(due["program_id"])
                    if config is None or not config.settings.reminders.birthday:
                        continue
                    fields = {"event_type": "reminder.birthday", "year": day.year}
                    _send(store, report, due["program_id"], due["member_id"], f"birthday-{day.year}", fields, now)
