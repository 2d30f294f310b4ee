"""Reports: the table's stream turned into per-program, per-day counters, and the summary read from them.

What each stream record adds (plain functions, no AWS):

- a ledger entry's INSERT, counted on the program-local day it was recorded:
  earn -> issued, earns, points and transactions per earning rule (`rule/<id>/...`);
  redeem -> redeemed, redemptions, per reward and reward type; cancel -> cancelled (points given back),
  cancellations, per reward; expire -> expired; reverse (refund claw-back) -> reversed; adjust -> adjusted.
  Every entry also adds its signed points to `net`, so the all-time `net` is exactly the sum of the
  ledger: issued - redeemed + cancelled - expired - reversed + adjusted = what members hold (balance
  plus pending), the outstanding points.
- a profile's INSERT -> an enrollment on the day of `enrolled_at`;
- a profile image whose `last_activity_at` moved to a new day -> one more active member that day
  (enrolling, earning and redeeming set it: a member counts once a day, with no per-member read);
- a profile whose counted tier changed (the tier; none once erased) -> -1 old tier, +1 new tier.

Counters live in one item per program and day plus one all-time TOTALS item (members by tier too).
The reporter applies a batch's changes and one marker per counted record in one transaction; a
record whose marker exists was counted before and is dropped, so a replayed batch counts once.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from loyalty.domain.program import ProgramConfig
from loyalty.errors import ValidationFailed
from loyalty.services.retry import attempts
from loyalty.store.dynamo import from_item
from loyalty.store.reports import TOTALS  # the scope of the all-time counters (any other scope is a day)

if TYPE_CHECKING:
    from loyalty.store.store import LoyaltyStore

NO_TIER = "none"  # members of a program without tiers
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
TOP = 10  # rewards and rules listed in a summary
# A stream record's marker must outlive the stream's 24 h retention (every retry of it) plus TTL's lag.
SEEN_MARKER_DAYS = 2
# TransactWriteItems takes 100 items; keep a few spare. An update expression holds at most 4 KB.
MAX_TRANSACTION_ITEMS = 100
MAX_ATTRIBUTES_PER_UPDATE = 150
TRANSACTION_ATTEMPTS = 6  # transaction conflicts with a concurrent batch of another shard

# Points figures (positive numbers) and counts kept per day and all time.
POINTS = ("issued", "redeemed", "cancelled", "expired", "reversed", "adjusted")
DAILY = (*POINTS, "net", "earns", "enrollments", "redemptions", "cancellations", "active_members")
TOTALS_FIELDS = (*POINTS, "net", "earns", "enrollments", "redemptions", "cancellations")
CSV_COLUMNS = ("date", *POINTS, "enrollments", "redemptions", "cancellations", "active_members")

# Changes of one record (or a batch): (program_id, scope) -> counter name -> amount.
Changes = dict[tuple[str, str], Counter[str]]


def reward_attr(reward_id: str, name: str) -> str:
    return f"reward/{reward_id}/{name}"


def reward_type_attr(reward_type: str, name: str) -> str:
    return f"type/{reward_type}/{name}"


def rule_attr(rule_id: str, name: str) -> str:
    return f"rule/{rule_id}/{name}"


def tier_attr(tier_id: str | None) -> str:
    return f"tier/{tier_id or NO_TIER}"


def local_day(moment: str | datetime, timezone: str) -> str:
    """The program-local calendar day of an instant (reports count days in the program's time zone)."""
    instant = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(ZoneInfo(timezone)).date().isoformat()


# ------------------------------------------------------------------ stream record -> changes


def _images(record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    images = record.get("dynamodb") or {}
    return from_item(images.get("OldImage") or {}), from_item(images.get("NewImage") or {})


def record_changes(record: Mapping[str, Any], timezone_of: Callable[[str], str]) -> Changes:
    """What one stream record adds to the counters (empty when it changes none)."""
    old, new = _images(record)
    kind = (new or old).get("type")
    if kind == "entry" and record.get("eventName") == "INSERT":
        return _entry_changes(new, timezone_of(new["program_id"]))
    if kind == "member":
        program_id = (new or old)["program_id"]
        return _profile_changes(record.get("eventName", ""), old, new, program_id, timezone_of(program_id))
    return {}


def _add(changes: Changes, program_id: str, scope: str, **amounts: int) -> None:
    counter = changes.setdefault((program_id, scope), Counter())
    for name, amount in amounts.items():
        counter[name] += amount


def _add_attrs(changes: Changes, program_id: str, scope: str, amounts: Mapping[str, int]) -> None:
    changes.setdefault((program_id, scope), Counter()).update(amounts)


def _entry_changes(entry: dict[str, Any], timezone: str) -> Changes:
    program_id, points = entry["program_id"], int(entry["points"])
    day = local_day(entry["recorded_at"], timezone)
    details = entry.get("details") or {}
    changes: Changes = {}
    figures: dict[str, int] = {"net": points}
    match entry["kind"]:
        case "earn":
            figures |= {"issued": points, "earns": 1}
            rules: Counter[str] = Counter()
            for rule in (entry.get("snapshot") or {}).get("rules") or ():
                rules[rule_attr(rule["rule_id"], "orders")] += 1
                rules[rule_attr(rule["rule_id"], "points")] += int(rule["points"])
            _add_attrs(changes, program_id, day, rules)
        case "redeem":
            figures |= {"redeemed": -points, "redemptions": 1}
            reward_id, reward_type = details.get("reward_id"), details.get("reward_type")
            by_reward: Counter[str] = Counter()
            if reward_id:
                by_reward[reward_attr(reward_id, "redemptions")] += 1
                by_reward[reward_attr(reward_id, "points")] += -points
            if reward_type:
                by_reward[reward_type_attr(reward_type, "redemptions")] += 1
                by_reward[reward_type_attr(reward_type, "points")] += -points
            _add_attrs(changes, program_id, day, by_reward)
        case "cancel":
            figures |= {"cancelled": points, "cancellations": 1}
            if details.get("reward_id"):
                _add_attrs(changes, program_id, day, {reward_attr(details["reward_id"], "cancelled"): 1})
        case "expire":
            figures["expired"] = -points
        case "reverse":
            figures["reversed"] = -points
        case _:  # adjust, and any kind added later: still part of `net`, so outstanding stays exact
            figures["adjusted"] = points
    _add(changes, program_id, day, **figures)
    _add(changes, program_id, TOTALS, **figures)
    return changes


def _counted_tier(image: dict[str, Any]) -> str | None:
    """The tier a profile image counts in: none for a missing or erased member."""
    if not image or image.get("status") == "erased":
        return None
    return tier_attr(image.get("tier"))


def _profile_changes(event: str, old: dict[str, Any], new: dict[str, Any], program_id: str, timezone: str) -> Changes:
    changes: Changes = {}
    if event == "INSERT" and new.get("enrolled_at"):
        _add(changes, program_id, local_day(new["enrolled_at"], timezone), enrollments=1)
        _add(changes, program_id, TOTALS, enrollments=1)
    before, after = _counted_tier(old), _counted_tier(new)
    if before != after:
        tiers: Counter[str] = Counter()
        if before:
            tiers[before] -= 1
        if after:
            tiers[after] += 1
        _add_attrs(changes, program_id, TOTALS, tiers)
    if _active_on_a_new_day(old, new, timezone):
        _add(changes, program_id, local_day(new["last_activity_at"], timezone), active_members=1)
    return changes


def _active_on_a_new_day(old: dict[str, Any], new: dict[str, Any], timezone: str) -> bool:
    """True when `last_activity_at` moved forward into a day it was not in (each member once a day)."""
    after = new.get("last_activity_at")
    if not after:
        return False
    before = old.get("last_activity_at")
    if not before:
        return True
    if datetime.fromisoformat(after) <= datetime.fromisoformat(before):
        return False  # unchanged (or a clock that went back: that day already counted the member)
    return local_day(after, timezone) != local_day(before, timezone)


def merge(into: Changes, more: Changes) -> Changes:
    for key, counter in more.items():
        into.setdefault(key, Counter()).update(counter)
    return into


def without_zeros(changes: Changes) -> Changes:
    """Counters that change nothing are not written (a +1/-1 pair within one batch cancels out)."""
    kept = {key: Counter({n: v for n, v in counter.items() if v}) for key, counter in changes.items()}
    return {key: counter for key, counter in kept.items() if counter}


# ------------------------------------------------------------------ applying a stream batch


@dataclass
class Counted:
    """A stream record that changes counters: its marker id, the marker's expiry and its changes."""

    event_id: str
    sequence: str
    expires: int  # epoch seconds (TTL)
    changes: Changes


@dataclass
class BatchResult:
    applied: int = 0  # records counted now
    duplicates: int = 0  # records counted before (a replayed batch)
    ignored: int = 0  # records that change no counter
    transactions: int = 0
    changes: Changes = field(default_factory=dict)  # what this invocation added (for the metrics)
    failed_sequence: str | None = None  # the first record not applied (Lambda retries from it)
    error: Exception | None = None


def _created_epoch(record: Mapping[str, Any]) -> int:
    created = (record.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    if isinstance(created, datetime):  # boto3's GetRecords parses it; Lambda's event carries epoch seconds
        return int(created.timestamp())
    if isinstance(created, int | float | Decimal | str):
        return int(float(created))
    return int(datetime.now(UTC).timestamp())


def counted_records(records: Iterable[Mapping[str, Any]], timezone_of: Callable[[str], str]) -> list[Counted]:
    counted = []
    ids = set()
    for record in records:
        if record["eventID"] in ids:
            continue  # never two writes of one marker in a transaction (DynamoDB refuses it)
        ids.add(record["eventID"])
        changes = without_zeros(record_changes(record, timezone_of))
        if changes:
            expires = _created_epoch(record) + SEEN_MARKER_DAYS * 86_400
            counted.append(Counted(record["eventID"], record["dynamodb"]["SequenceNumber"], expires, changes))
    return counted


def _chunks(counted: list[Counted]) -> list[list[Counted]]:
    """Consecutive records whose markers and counter items fit one transaction."""
    chunks: list[list[Counted]] = []
    current: list[Counted] = []
    attributes: dict[tuple[str, str], set[str]] = {}
    for record in counted:
        grown = {key: attributes.get(key, set()) | set(counter) for key, counter in record.changes.items()}
        merged = {**attributes, **grown}
        too_many = len(current) + 1 + len(merged) > MAX_TRANSACTION_ITEMS or any(
            len(names) > MAX_ATTRIBUTES_PER_UPDATE for names in merged.values()
        )
        if current and too_many:
            chunks.append(current)
            current, merged = [], {key: set(counter) for key, counter in record.changes.items()}
        current.append(record)
        attributes = merged
    if current:
        chunks.append(current)
    return chunks


def apply_batch(
    store: LoyaltyStore, records: Iterable[Mapping[str, Any]], timezone_of: Callable[[str], str]
) -> BatchResult:
    """Count a stream batch once: each chunk's markers and counters in one transaction, in stream order.

    On a failure the records from the failed chunk on are left for the retry (`failed_sequence`);
    the chunks before it are applied, and their markers make the retry skip them.
    """
    from loyalty.store.store import Cancelled

    records = list(records)
    counted = counted_records(records, timezone_of)
    result = BatchResult(ignored=len(records) - len(counted))
    for chunk in _chunks(counted):
        pending = chunk
        try:
            for _ in attempts(TRANSACTION_ATTEMPTS):
                if not pending:
                    break
                changes = without_zeros(_merged(pending))
                try:
                    store.apply_report_changes([(r.event_id, r.expires) for r in pending], changes)
                except Cancelled as cancelled:
                    if any(name.startswith("seen") and name[4:].isdigit() for name in cancelled.failures):
                        # A replay: some records were counted before. Read which (a cancellation need not
                        # name every failed condition), drop them and apply the rest.
                        seen = store.report_seen([r.event_id for r in pending])
                        result.duplicates += len(seen)
                        pending = [r for r in pending if r.event_id not in seen]
                    continue  # otherwise a conflict with a concurrent batch: retry after a pause
                result.transactions += 1
                result.applied += len(pending)
                merge(result.changes, changes)
                break
        except Exception as error:  # throttled, or conflicts outlasted the attempts
            result.failed_sequence, result.error = chunk[0].sequence, error
            return result
    return result


def _merged(records: list[Counted]) -> Changes:
    changes: Changes = {}
    for record in records:
        merge(changes, record.changes)
    return changes


def business_metrics(changes: Changes) -> dict[str, int]:
    """The dashboard's figures (all programs together) from what a batch added to the all-time totals."""
    totals: Counter[str] = Counter()
    for (_, scope), counter in changes.items():
        if scope == TOTALS:
            totals.update(counter)
    return {
        "PointsEarned": totals["issued"],
        "PointsRedeemed": totals["redeemed"],
        "PointsExpired": totals["expired"],
        "PointsReversed": totals["reversed"],
        "PointsCancelled": totals["cancelled"],
        "Redemptions": totals["redemptions"],
        "Enrollments": totals["enrollments"],
    }


# ------------------------------------------------------------------ the summary


def period(from_day: date | None, to_day: date | None, today: date) -> tuple[date, date]:
    """The days a summary covers: both given, or the last DEFAULT_RANGE_DAYS up to `to` (default today)."""
    last = to_day or today
    first = from_day or last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if first > last:
        raise ValidationFailed("from is after to", field="from", **{"from": first.isoformat(), "to": last.isoformat()})
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(f"a report covers at most {MAX_RANGE_DAYS} days", field="to", max_days=MAX_RANGE_DAYS)
    return first, last


def _prefixed(counters: Iterable[Mapping[str, Any]], prefix: str) -> dict[str, dict[str, int]]:
    """`prefix/<id>/<name>` attributes summed over items -> {id: {name: sum}}."""
    found: dict[str, Counter[str]] = {}
    for counter in counters:
        for attribute, value in counter.items():
            if attribute.startswith(prefix + "/") and isinstance(value, int):
                key, _, name = attribute[len(prefix) + 1 :].rpartition("/")
                found.setdefault(key, Counter())[name] += value
    return {key: dict(counter) for key, counter in found.items()}


def summary(
    config: ProgramConfig,
    first: date,
    last: date,
    days: list[dict[str, Any]],
    totals: dict[str, Any],
    top: int = TOP,
) -> dict[str, Any]:
    """The summary report from the counter items of the period and the all-time totals."""
    by_day = {item["day"]: item for item in days}
    daily: list[dict[str, Any]] = []
    for offset in range((last - first).days + 1):
        day = (first + timedelta(days=offset)).isoformat()
        item = by_day.get(day, {})
        daily.append({"date": day, **{name: int(item.get(name, 0)) for name in DAILY}})
    period_sums = {name: sum(row[name] for row in daily) for name in DAILY}
    outstanding = int(totals.get("net", 0))
    settings = config.settings
    liability = (Decimal(outstanding) * settings.point_value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    tiers = {tier_id: 0 for tier_id, _ in config.tiers_by_threshold()}
    tiers.update({tier_id: count for tier_id, count in _tier_counts(totals).items() if count or tier_id in tiers})
    top_rewards = _ranked(_prefixed(days, "reward"), "reward_id", ("redemptions", "points", "cancelled"))
    top_rules = _ranked(_prefixed(days, "rule"), "rule_id", ("orders", "points"), by=("points", "orders"))
    by_type = _ranked(_prefixed(days, "type"), "reward_type", ("redemptions", "points"))
    issued = period_sums["issued"]
    return {
        "program_id": config.program_id,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "timezone": settings.timezone,
        **{name: period_sums[name] for name in (*POINTS, "enrollments", "redemptions", "cancellations")},
        "outstanding": outstanding,
        "liability": {"amount": float(liability), "currency": settings.currency},
        "breakage_rate": round(period_sums["expired"] / issued, 4) if issued else None,
        "members": sum(tiers.values()),
        "members_by_tier": tiers,
        "top_rewards": top_rewards[:top],
        "rewards_by_type": by_type,
        "top_rules": top_rules[:top],
        "daily": [{name: row[name] for name in CSV_COLUMNS} for row in daily],
    }


def _ranked(
    found: dict[str, dict[str, int]], id_name: str, fields: tuple[str, ...], by: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """Rows {id_name, *fields}, largest first by `by` (default: the fields in order), then by id."""
    order = by or fields
    ranked = sorted(found.items(), key=lambda pair: (*(-pair[1].get(name, 0) for name in order), pair[0]))
    return [{id_name: key, **{name: figures.get(name, 0) for name in fields}} for key, figures in ranked]


def _tier_counts(totals: Mapping[str, Any]) -> dict[str, int]:
    prefix = tier_attr(None)[: -len(NO_TIER)]
    return {name[len(prefix) :]: int(value) for name, value in totals.items() if name.startswith(prefix)}


def daily_csv(report: dict[str, Any]) -> str:
    """The daily series: a header and one line per day."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report["daily"]:
        writer.writerow([row[name] for name in CSV_COLUMNS])
    return out.getvalue()
