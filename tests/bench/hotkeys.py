"""Figure 4: hot keys. Writes per partition key value per second at 10,000 earns/s and 2,000 redemptions/s.

A simulation in memory, no AWS: a program of 1,000,000 synthetic members; who acts is drawn from a
Zipf-like skew (a few members far more active), capped at what one person can do in a second. Each
operation's writes come from a small function per operation that calls the store's own key functions
(loyalty.store.keys) as the store's transaction does; a sample of each operation is checked against the
real store method (its TransactItems, caught by a recording client), so the functions cannot drift far.

What counts as a write on a partition key value:
- table: each item the transaction writes, plus each local index entry it changes (LEDGER, OPEN: they
  live in the member's partition and share its 1,000 WCU/s);
- GSI1: each index entry added, changed or removed (a GSI partition has the same 1,000 WCU/s limit);
- the reporter (from the table's stream): its counter items and its per-record markers.
Sort keys (keys.entry_sk, COUNTER#<n>...) choose no partition, so the functions name partition keys only.
The 1,000 WCU/s cap is per partition, and the unit a design can plan for is the partition key value
(AWS: "design for uniform activity across all partition keys"; this table has local indexes, so a
partition key's items form one item collection): items that differ only in their sort key add up.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from infra.definitions import TABLE
from loyalty.domain.ledger import LedgerEntry, Member, Spend, new_lot
from loyalty.domain.program import ProgramConfig, ProgramSettings, Reward, Tier, lot_expiry
from loyalty.services.members import birthday_due
from loyalty.services.redemption import counter_for, new_code, redemption_id_for
from loyalty.services.schedule import inactivity_due
from loyalty.store import keys
from loyalty.store.dynamo import from_item, to_item
from loyalty.store.jobs import Due, due_part
from loyalty.store.store import Identity, LoyaltyStore, RewardCounter
from tests.bench.calls import NOW
from tests.bench.seeding import PROGRAM_ID, TIERS
from tests.integration.conftest import PROGRAM

MEMBERS = 1_000_000
EARNS_PER_S = 10_000
REDEMPTIONS_PER_S = 2_000
ENROLLMENTS_PER_S = 100  # a busy sign-up day (a program of 31 M members grows by ~1/s on average)
SECONDS = 10
ZIPF_EXPONENT = 1.0  # member of rank k acts in proportion to 1/k
MAX_EARNS_PER_MEMBER_S = 3  # nobody pays at a till more often; a draw beyond it goes to someone else
MAX_REDEMPTIONS_PER_MEMBER_S = 2
REWARDS = 20
TOP_REWARD_SHARE = 0.30  # the others share the rest in proportion to 1/rank
TIER_UP_SHARE = 0.01  # earns that lift the member into a higher tier (they write the tier review item)
SPENT_LOTS = ((1, 0.70), (2, 0.25), (3, 0.05))  # lots one redemption spends, with their odds
TARGET = 500  # writes/s per partition key value: half a partition's 1,000 WCU/s
PARTITION_WCU = 1_000
REPORTER_BATCH = 100  # the reporter's stream batch size (infra/constructs/events.py)
KB = 1024

TABLE_SPACE, GSI1 = "table", "GSI1"
LEDGER, OPEN = (index.name for index in TABLE.local_indexes)
Write = tuple[str, str]  # (table, LEDGER, OPEN or GSI1; the partition key value written)

# Caps on some rewards: a stocked campaign reward is the most popular while it runs.
REWARD_CAPS: dict[int, dict[str, Any]] = {
    1: {"stock": 1_000_000},
    3: {"limits": {"points_budget": 50_000_000}},
    5: {"limits": {"total": 200_000}},
    8: {"stock": 10_000},
    12: {"stock": 500},
    17: {"stock": 50},
}
REWARD_TYPES = ("product", "discount", "gift_card", "free_shipping", "cashback")
# A cashback reward needs its rate.
CASHBACK_VALUE = {"cashback": {"value": {"amount_per_point": "0.01", "currency": "EUR"}}}


# ------------------------------------------------------------------ the writes of each operation


def earn_writes(config: ProgramConfig, member_id: str, lot_id: str, occurred_at: datetime) -> list[Write]:
    """Mirrors LoyaltyStore.record_credit (store/store.py) with the entry of items.entry_item: a rolling
    program, no pending period, so the lot goes straight into the expiry index."""
    pk = keys.member_pk(config.program_id, member_id)
    writes = [(TABLE_SPACE, pk), (LEDGER, pk)]  # the entry: Put, with LEDGER_SK
    expires_at = lot_expiry(config, occurred_at, config.entry_tier())
    writes.append((OPEN, pk))  # the entry is also the lot: OPEN_SK while it has points left
    if expires_at is not None:
        writes.append((GSI1, keys.expiry_index_keys(config.program_id, member_id, lot_id, expires_at)["GSI1PK"]))
    writes += [(TABLE_SPACE, pk), (OPEN, pk)]  # the profile: Update; the profile heads the OPEN index
    writes += [write for due in inactivity_due(config, occurred_at) for write in _due_writes(config, member_id, due)]
    return writes


def tier_review_writes(config: ProgramConfig, member_id: str, tier: str, review_at: datetime) -> list[Write]:
    """Mirrors the `due` part of LoyaltyStore.record_credit when the earn reaches a tier."""
    return _item_writes(LoyaltyStore.tier_review_item(config.program_id, member_id, tier, review_at))


@dataclass(frozen=True)
class SpentLot:
    lot_id: str
    expires_at: datetime


def redeem_writes(
    config: ProgramConfig,
    member_id: str,
    code: str,
    lots: list[SpentLot],
    counter: RewardCounter | None,
    now: datetime,
) -> list[Write]:
    """Mirrors LoyaltyStore.record_redemption (store/store.py): entry, profile, each lot, the reward counter."""
    program_id = config.program_id
    pk = keys.member_pk(program_id, member_id)
    # The redemption entry: Put with LEDGER_SK, and its code in GSI1 for the till's look-up.
    writes = [(TABLE_SPACE, pk), (LEDGER, pk), (GSI1, keys.code_index_keys(program_id, code)["GSI1PK"])]
    writes += [(TABLE_SPACE, pk), (OPEN, pk)]  # the profile (balance, reward_counts)
    for lot in lots:
        # _spend_update: `remaining` changes in both local indexes and in the expiry index; an emptied lot
        # leaves OPEN and GSI1 (REMOVE OPEN_SK, GSI1PK, GSI1SK), which is a write to those indexes too.
        expiry = keys.expiry_index_keys(program_id, member_id, lot.lot_id, lot.expires_at)["GSI1PK"]
        writes += [(TABLE_SPACE, pk), (LEDGER, pk), (OPEN, pk), (GSI1, expiry)]
    if counter is not None:
        # _counter_update: the counter item is in no index.
        writes.append((TABLE_SPACE, keys.reward_counter_key(program_id, counter.reward_id, counter.shard)["PK"]))
    writes += [write for due in inactivity_due(config, now) for write in _due_writes(config, member_id, due)]
    return writes


def enroll_writes(config: ProgramConfig, member: Member, due: tuple[Due, ...]) -> list[Write]:
    """Mirrors LoyaltyStore.enroll (store/store.py): profile, one marker per identity, the due items."""
    pk = keys.member_pk(config.program_id, member.member_id)
    writes = [(TABLE_SPACE, pk), (OPEN, pk)]  # the profile: OPEN_SK "#PROFILE"
    if member.email:
        writes.append((TABLE_SPACE, keys.identity_pk(config.program_id, "email", member.email)))
    if member.phone:
        writes.append((TABLE_SPACE, keys.identity_pk(config.program_id, "phone", member.phone)))
    return writes + [write for change in due for write in _due_writes(config, member.member_id, change)]


def _due_writes(config: ProgramConfig, member_id: str, due: Due) -> list[Write]:
    """A due item's writes, read off the store's own part (store/jobs.py due_part)."""
    _, action = due_part(config.program_id, member_id, due)
    if "Delete" in action:
        return [(TABLE_SPACE, from_item(action["Delete"]["Key"])["PK"])]
    return _item_writes(from_item(action["Put"]["Item"]))


def _item_writes(item: dict[str, Any]) -> list[Write]:
    """A Put of a whole item: the table, and each index whose key attributes it carries."""
    writes = [(TABLE_SPACE, item["PK"])]
    writes += [(index.name, item["PK"]) for index in TABLE.local_indexes if index.sort_key in item]
    if "GSI1PK" in item:
        writes.append((GSI1, item["GSI1PK"]))
    return writes


# ------------------------------------------------------------------ the reporter (stream -> counters)


@dataclass
class StreamRecord:
    """A record the reporter's filter lets through (entry INSERTs, profile changes), as the counters see it."""

    event_id: str
    changes: Any  # loyalty.services.reports.Changes


def reporter_writes(program_id: str, batch: list[StreamRecord]) -> tuple[list[Write], int]:
    """Mirrors loyalty.services.reports.apply_batch with ReportStoreMixin.apply_report_changes: the records
    that change a counter, in the chunks one transaction takes; each chunk writes one marker per record
    (its own partition) and each counter item it changes. Returns the writes and the transactions."""
    from loyalty.services.reports import Counted, _chunks, without_zeros

    counted = [Counted(r.event_id, str(n), 0, r.changes) for n, r in enumerate(batch) if r.changes]
    writes: list[Write] = []
    chunks = _chunks(counted)
    for chunk in chunks:
        writes += [(TABLE_SPACE, keys.report_seen_key(record.event_id)["PK"]) for record in chunk]
        merged: dict[tuple[str, str], Counter[str]] = {}
        for record in chunk:
            for key, counter in record.changes.items():
                merged.setdefault(key, Counter()).update(counter)
        shard = keys.report_shard(chunk[0].event_id)
        writes += [(TABLE_SPACE, keys.report_pk(program_id, shard)) for _ in without_zeros(merged)]
    return writes, len(chunks)


class ReportShapes:
    """What each kind of record adds to the counters, from the reporter's own `record_changes`
    applied to a minimal stream record of that kind (computed once per kind: it is the same each time)."""

    def __init__(self, config: ProgramConfig, now: datetime) -> None:
        from loyalty.services.reports import record_changes

        self._changes = record_changes
        self._config = config
        self._now = now
        self._cache: dict[tuple[str, ...], Any] = {}
        self._active: set[str] = set()  # members seen acting: their next change is not their first of the day

    def _record(self, event: str, new: dict[str, Any], old: dict[str, Any] | None = None) -> Any:
        images = {"NewImage": to_item(new), **({"OldImage": to_item(old)} if old else {})}
        record = {"eventName": event, "eventID": "shape", "dynamodb": images}
        return self._changes(record, lambda _: self._config.settings.timezone)

    def earn(self, points: int) -> Any:
        if ("earn",) not in self._cache:
            self._cache[("earn",)] = self._record(
                "INSERT", self._entry("earn", points, snapshot={"rules": [{"rule_id": "base_rate", "points": points}]})
            )
        return self._cache[("earn",)]

    def redeem(self, reward_id: str, reward: Reward) -> Any:
        key = ("redeem", reward_id)
        if key not in self._cache:
            details = {"reward_id": reward_id, "reward_type": reward.type, "quantity": 1}
            self._cache[key] = self._record("INSERT", self._entry("redeem", -reward.cost, details=details))
        return self._cache[key]

    def profile_change(self, member_id: str, tier_up: bool = False) -> Any:
        """A profile change: the member's first activity of the day unless it acted earlier in the simulation
        (the busy end: at a peak hour most members act once that day)."""
        first = member_id not in self._active
        self._active.add(member_id)
        return self.profile(first, tier_up)

    def profile(self, first_of_day: bool, tier_up: bool) -> Any:
        key = ("profile", str(first_of_day), str(tier_up))
        if key not in self._cache:
            before = self._now - timedelta(days=1 if first_of_day else 0, seconds=1)
            old = self._member(before, "bronze")
            new = self._member(self._now, "silver" if tier_up else "bronze")
            self._cache[key] = self._record("MODIFY", new, old)
        return self._cache[key]

    def enrollment(self) -> Any:
        if ("enroll",) not in self._cache:
            self._cache[("enroll",)] = self._record("INSERT", self._member(self._now, "bronze"))
        return self._cache[("enroll",)]

    def _entry(self, kind: str, points: int, **extra: Any) -> dict[str, Any]:
        moment = keys.timestamp(self._now)
        fields = {"type": "entry", "program_id": self._config.program_id, "kind": kind, "points": points}
        return {**fields, "recorded_at": moment, "occurred_at": moment, **extra}

    def _member(self, last_activity: datetime, tier: str) -> dict[str, Any]:
        return {
            "type": "member",
            "program_id": self._config.program_id,
            "status": "active",
            "tier": tier,
            "enrolled_at": keys.timestamp(self._now),
            "last_activity_at": keys.timestamp(last_activity),
        }


# ------------------------------------------------------------------ the program and its members


def bench_program() -> ProgramConfig:
    """The tests' program (rolling 365-day expiry, tiers bronze/silver/gold) with 20 rewards."""
    shares = reward_shares()
    rewards = {
        reward_id: Reward.model_validate(
            {
                "name": reward_id,
                "type": REWARD_TYPES[rank % len(REWARD_TYPES)],
                "cost": 100 + 25 * (rank % 9),
                **REWARD_CAPS.get(rank, {}),
                **CASHBACK_VALUE.get(REWARD_TYPES[rank % len(REWARD_TYPES)], {}),
            }
        )
        for rank, reward_id in enumerate(shares, start=1)
    }
    tiers = {tier_id: Tier(name=tier_id.title(), threshold=threshold) for tier_id, threshold, _ in TIERS}
    return ProgramConfig(
        program_id=PROGRAM_ID, settings=ProgramSettings.model_validate(PROGRAM), tiers=tiers, rewards=rewards
    )


def reward_shares() -> dict[str, float]:
    """Each reward's share of the redemptions: the top one TOP_REWARD_SHARE, the others by 1/rank."""
    rest = sum(1 / rank for rank in range(2, REWARDS + 1))
    shares = {"reward-01": TOP_REWARD_SHARE}
    shares |= {f"reward-{rank:02d}": (1 - TOP_REWARD_SHARE) / rank / rest for rank in range(2, REWARDS + 1)}
    return shares


class Members:
    """Who acts: member of rank k in proportion to 1/k**ZIPF_EXPONENT, at most `cap` times a second."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._cumulative = list(itertools.accumulate(1 / rank**ZIPF_EXPONENT for rank in range(1, MEMBERS + 1)))
        self._ranks = range(MEMBERS)

    def draw(self, count: int, cap: int) -> list[str]:
        taken: Counter[int] = Counter()
        chosen: list[str] = []
        while len(chosen) < count:
            for rank in self._rng.choices(self._ranks, cum_weights=self._cumulative, k=count - len(chosen)):
                if taken[rank] < cap:
                    taken[rank] += 1
                    chosen.append(f"m{rank:07d}")
        return chosen

    def share_of_top(self, members: int) -> float:
        return self._cumulative[members - 1] / self._cumulative[-1]


# ------------------------------------------------------------------ the simulation


@dataclass
class KeyLoad:
    space: str  # "table" (items and local index entries of one partition key) or "GSI1"
    key: str
    peak: int  # writes in the busiest simulated second
    mean: float
    wcu: float  # estimated write units in that second
    sources: dict[str, int]  # the busiest second's writes by what wrote them

    @property
    def met(self) -> bool:
        return self.peak < TARGET

    def to_json(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "partition_key": self.key,
            "peak_writes_per_s": self.peak,
            "mean_writes_per_s": round(self.mean, 1),
            "estimated_wcu_per_s": round(self.wcu),
            "by_source": self.sources,
            "target_met": self.met,
        }


@dataclass
class RewardLoad:
    reward_id: str
    share: float
    counter_shards: int
    counter_keys: int  # distinct partition key values its counter items use
    peak: int  # writes/s on its busiest counter partition key (0: no counter)


@dataclass
class HotKeysResult:
    table: list[KeyLoad]
    gsi1: list[KeyLoad]
    rewards: list[RewardLoad]
    checks: list[tuple[str, str]]  # (operation, "" when the simulated writes match the store's, else why not)
    operations: dict[str, float]  # per second, as simulated
    writes_per_s: dict[str, float]  # all writes per second, by space
    reporter: dict[str, float]
    top_members_share: float
    busiest_member: KeyLoad | None
    seconds: int = SECONDS
    missed: list[KeyLoad] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": {
                "members": MEMBERS,
                "earns_per_s": EARNS_PER_S,
                "redemptions_per_s": REDEMPTIONS_PER_S,
                "enrollments_per_s": ENROLLMENTS_PER_S,
                "simulated_seconds": self.seconds,
                "zipf_exponent": ZIPF_EXPONENT,
                "max_earns_per_member_s": MAX_EARNS_PER_MEMBER_S,
                "max_redemptions_per_member_s": MAX_REDEMPTIONS_PER_MEMBER_S,
                "rewards": REWARDS,
                "top_reward_share": TOP_REWARD_SHARE,
                "expiry_shards": keys.EXPIRY_SHARDS,
                "share_of_activity_of_top_1000_members": round(self.top_members_share, 3),
            },
            "target_writes_per_s": TARGET,
            "operations_per_s": self.operations,
            "writes_per_s": self.writes_per_s,
            "busiest_table_keys": [load.to_json() for load in self.table],
            "busiest_gsi1_keys": [load.to_json() for load in self.gsi1],
            "busiest_member_partition": self.busiest_member.to_json() if self.busiest_member else None,
            "rewards": [{**vars(reward), "share": round(reward.share, 4)} for reward in self.rewards],
            "reporter": self.reporter,
            "checked_against_store": {operation: problem or "same items" for operation, problem in self.checks},
            "missed": [load.to_json() for load in self.missed],
            "target_met": not self.missed,
        }


class Tally:
    """Writes per (space, partition key value) per simulated second, with their source and write units."""

    def __init__(self, report_units: dict[str, int]) -> None:
        self.seconds: list[Counter[tuple[str, str]]] = []
        self.units: list[Counter[tuple[str, str]]] = []
        self.sources: list[dict[tuple[str, str], Counter[str]]] = []
        self.totals: Counter[str] = Counter()
        self.report_units = report_units

    def next_second(self) -> None:
        self.seconds.append(Counter())
        self.units.append(Counter())
        self.sources.append({})

    def add(self, writes: list[Write], source: str) -> None:
        second, units, sources = self.seconds[-1], self.units[-1], self.sources[-1]
        for space, key in writes:
            where = (GSI1 if space == GSI1 else TABLE_SPACE, key)
            second[where] += 1
            sources.setdefault(where, Counter())[f"{source} {space}"] += 1
            self.totals[space] += 1
            # A transactional write costs 2 WCU per KB of item, an index entry 1 (the items are under 1 KB:
            # figure 1; the reporter's counter items are larger, estimated from their attributes).
            units[where] += self.report_units.get(key, 2) if space == TABLE_SPACE else 1

    def busiest(self, space: str, count: int) -> list[KeyLoad]:
        peaks: Counter[tuple[str, str]] = Counter()
        for second in self.seconds:
            for where, writes in second.items():
                if where[0] == space and writes > peaks[where]:
                    peaks[where] = writes
        return [self.load(where) for where, _ in peaks.most_common(count)]

    def over(self, writes: int) -> list[KeyLoad]:
        """Every key that took `writes` or more in some second, busiest first."""
        hot = {where for second in self.seconds for where, n in second.items() if n >= writes}
        return sorted((self.load(where) for where in hot), key=lambda load: -load.peak)

    def load(self, where: tuple[str, str]) -> KeyLoad:
        per_second = [second[where] for second in self.seconds]
        busiest = max(range(len(per_second)), key=per_second.__getitem__)
        return KeyLoad(
            space=where[0],
            key=where[1],
            peak=per_second[busiest],
            mean=sum(per_second) / len(per_second),
            wcu=self.units[busiest][where],
            sources=dict(self.sources[busiest].get(where, Counter()).most_common()),
        )


def _report_units(config: ProgramConfig, shapes: ReportShapes) -> dict[str, int]:
    """Write units of one transactional write of the report counter items, from the attributes they
    collect over a day (every reward, rule and figure), sized as capacity.py sizes items."""
    from tests.bench.capacity import item_size

    day: dict[str, Any] = {"PK": keys.report_pk(config.program_id, 0), "SK": keys.report_day_sk("2026-11-23")}
    day |= {"type": "report_day", "program_id": config.program_id, "day": "2026-11-23"}
    totals: dict[str, Any] = {"PK": day["PK"], "SK": keys.REPORT_TOTALS_SK, "type": "report_totals"}
    totals["program_id"] = config.program_id
    changes = [shapes.earn(250), shapes.profile(True, True), shapes.enrollment()]
    changes += [shapes.redeem(reward_id, reward) for reward_id, reward in config.rewards.items()]
    for change in changes:
        for (_, scope), counter in change.items():
            target = totals if scope == "TOTALS" else day
            target |= {name: 10**9 for name in counter}  # counters of a busy day: ten digits
    size = max(item_size(to_item(day)), item_size(to_item(totals)))
    units = 2 * math.ceil(size / KB)
    return {keys.report_pk(config.program_id, shard): units for shard in range(keys.REPORT_SHARDS)}


def _spent_lots(rng: random.Random, now: datetime, tag: str) -> list[SpentLot]:
    """The lots a redemption spends, soonest-expiring first: earned over the past year, so they expire
    over the coming one (emptied or not, a spent lot writes the same entries)."""
    (count,) = rng.choices([n for n, _ in SPENT_LOTS], weights=[w for _, w in SPENT_LOTS])
    expiries = sorted(now + timedelta(days=rng.uniform(1, 365)) for _ in range(count))
    return [SpentLot(f"lot-{tag}-{n}", expires_at) for n, expires_at in enumerate(expiries)]


def counter_shard(reward: Reward, redemption_id: str) -> int:
    """Mirrors services.redemption.redeem: each redemption starts on its own counter shard."""
    return int(hashlib.sha256(redemption_id.encode()).hexdigest(), 16) % max(reward.counter_shards(), 1)


def simulate(seconds: int = SECONDS, seed: int = 8) -> HotKeysResult:
    rng = random.Random(seed)
    config = bench_program()
    shapes = ReportShapes(config, NOW)
    tally = Tally(_report_units(config, shapes))
    members = Members(rng)
    reward_ids, weights = zip(*reward_shares().items(), strict=True)
    reporter_transactions = 0
    window = timedelta(days=config.settings.tier_window_days)
    for second in range(seconds):
        tally.next_second()
        now = NOW + timedelta(seconds=second)
        records: list[StreamRecord] = []

        for n, member_id in enumerate(members.draw(EARNS_PER_S, MAX_EARNS_PER_MEMBER_S)):
            tag = f"{second}-{n}"
            occurred_at = now - timedelta(seconds=rng.uniform(0, 300))  # tills send within minutes
            tally.add(earn_writes(config, member_id, f"lot-{tag}", occurred_at), "earn")
            tier_up = rng.random() < TIER_UP_SHARE
            if tier_up:
                tally.add(tier_review_writes(config, member_id, "silver", now + window), "earn")
            records.append(StreamRecord(f"e-{tag}", shapes.earn(250)))
            records.append(StreamRecord(f"p-{tag}", shapes.profile_change(member_id, tier_up)))

        chosen = rng.choices(reward_ids, weights=weights, k=REDEMPTIONS_PER_S)
        for n, member_id in enumerate(members.draw(REDEMPTIONS_PER_S, MAX_REDEMPTIONS_PER_MEMBER_S)):
            tag, reward_id = f"{second}-r{n}", chosen[n]
            reward = config.rewards[reward_id]
            redemption_id = redemption_id_for(config.program_id, member_id, f"key-{tag}")
            counter = counter_for(reward_id, reward, 1, reward.cost, counter_shard(reward, redemption_id))
            lots = _spent_lots(rng, now, tag)
            tally.add(redeem_writes(config, member_id, new_code(), lots, counter, now), "redeem")
            records.append(StreamRecord(f"r-{tag}", shapes.redeem(reward_id, reward)))
            records.append(StreamRecord(f"p-{tag}", shapes.profile_change(member_id)))

        for n in range(ENROLLMENTS_PER_S):
            member = _new_member(config, f"new-{second}-{n}", now, birthday=n % 2 == 0)
            tally.add(enroll_writes(config, member, _enroll_due(config, member, now)), "enroll")
            records.append(StreamRecord(f"n-{second}-{n}", shapes.enrollment()))

        # The stream interleaves every member's records; the reporter takes them a batch at a time.
        rng.shuffle(records)
        for start in range(0, len(records), REPORTER_BATCH):
            writes, transactions = reporter_writes(config.program_id, records[start : start + REPORTER_BATCH])
            tally.add(writes, "reporter")
            reporter_transactions += transactions

    member_prefix = keys.member_pk(config.program_id, "")
    members_only = [load for load in tally.busiest(TABLE_SPACE, 1_000) if load.key.startswith(member_prefix)]
    return HotKeysResult(
        table=tally.busiest(TABLE_SPACE, 10),
        gsi1=tally.busiest(GSI1, 10),
        rewards=_reward_loads(config, tally),
        checks=check_against_store(config),
        operations={"earn": EARNS_PER_S, "redeem": REDEMPTIONS_PER_S, "enroll": ENROLLMENTS_PER_S},
        writes_per_s={space: round(n / seconds) for space, n in sorted(tally.totals.items())},
        reporter={
            "batch_size": REPORTER_BATCH,
            "records_per_s": _reporter_records(),
            "transactions_per_s": round(reporter_transactions / seconds, 1),
            "counter_item_wcu_per_write": tally.report_units.get(keys.report_pk(config.program_id, 0), 2),
        },
        top_members_share=members.share_of_top(1_000),
        busiest_member=members_only[0] if members_only else None,
        missed=tally.over(TARGET),
    )


def _reporter_records() -> float:
    """Records per second the reporter's filter lets through: each earn and redemption inserts an entry and
    changes a profile; each enrollment inserts a profile."""
    return 2 * (EARNS_PER_S + REDEMPTIONS_PER_S) + ENROLLMENTS_PER_S


def _new_member(config: ProgramConfig, member_id: str, now: datetime, birthday: bool) -> Member:
    day = zlib.crc32(member_id.encode())
    return Member(
        program_id=config.program_id,
        member_id=member_id,
        enrolled_at=now,
        email=f"{member_id}@example.com",
        birthday=f"1990-{1 + day % 12:02d}-{1 + day % 28:02d}" if birthday else None,
        tier=config.entry_tier(),
        last_activity_at=now,
    )


def _enroll_due(config: ProgramConfig, member: Member, now: datetime) -> tuple[Due, ...]:
    """Mirrors services.members.enroll: the welcome and birthday reminders' due items."""
    welcome = (Due("welcome", at=now),) if config.settings.reminders.welcome_days_after else ()
    return (*welcome, *birthday_due(member))


def _reward_loads(config: ProgramConfig, tally: Tally) -> list[RewardLoad]:
    loads = []
    for reward_id, share in reward_shares().items():
        reward = config.rewards[reward_id]
        shards = reward.counter_shards()
        counter_keys = {keys.reward_counter_key(config.program_id, reward_id, n)["PK"] for n in range(shards)}
        peak = max((tally.load((TABLE_SPACE, key)).peak for key in counter_keys), default=0)
        loads.append(RewardLoad(reward_id, share, shards, len(counter_keys), peak))
    return loads


# ------------------------------------------------------------------ the functions above against the store


class _Recorder:
    """Stands in for the store's DynamoDB client: keeps the TransactItems instead of sending them."""

    def __init__(self) -> None:
        self.actions: list[dict[str, Any]] = []

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        self.actions = request["TransactItems"]
        return {}


def _store_writes(actions: list[dict[str, Any]]) -> tuple[Counter[str], set[str]]:
    """The partition key of each item a transaction writes (not its condition checks), and the GSI1
    partitions its Puts enter."""
    table: Counter[str] = Counter()
    gsi1: set[str] = set()
    for action in actions:
        ((verb, body),) = action.items()
        if verb == "ConditionCheck":
            continue
        item = from_item(body["Item"] if verb == "Put" else body["Key"])
        table[item["PK"]] += 1
        if "GSI1PK" in item:
            gsi1.add(item["GSI1PK"])
    return table, gsi1


def _compare(simulated: list[Write], actions: list[dict[str, Any]]) -> str:
    table, gsi1 = _store_writes(actions)
    ours = Counter(key for space, key in simulated if space == TABLE_SPACE)
    our_gsi1 = {key for space, key in simulated if space == GSI1}
    if ours != table:
        return f"items: store {dict(table)}, simulated {dict(ours)}"
    if not gsi1 <= our_gsi1:
        return f"GSI1 entries the simulation misses: {sorted(gsi1 - our_gsi1)}"
    return ""


def check_against_store(config: ProgramConfig) -> list[tuple[str, str]]:
    """One sample of each operation through the real store method; the simulated writes must name the
    same items (by partition key, as many of each) and every GSI1 partition its Puts enter."""
    from loyalty.domain.ledger import credit

    recorder = _Recorder()
    store = LoyaltyStore(TABLE.logical_id, client=recorder)
    program_id, member_id = config.program_id, "m0000042"
    member = Member(program_id, member_id, enrolled_at=NOW - timedelta(days=40), tier=config.entry_tier())
    member.balance, member.lifetime_points, member.version = 450, 450, 3
    checks = []

    for name, amount in (("earn", 40), ("earn reaching a tier", 600)):
        lot = new_lot(config, f"lot-{amount}", f"order#o-{amount}", amount, NOW, member.tier, NOW)
        after, reached = credit(member, config, lot, NOW)
        entry = LedgerEntry(lot.lot_id, "earn", "order", f"o-{amount}", amount, NOW, NOW, "hash", lot)
        review_at = NOW + timedelta(days=config.settings.tier_window_days) if reached else None
        store.record_credit(member, after, entry, [], tier_review_at=review_at, due=inactivity_due(config, NOW))
        simulated = earn_writes(config, member_id, lot.lot_id, NOW)
        if reached and review_at:
            simulated += tier_review_writes(config, member_id, reached, review_at)
        problem = _compare(simulated, recorder.actions) or ("" if reached or amount < 100 else "reached no tier")
        checks.append((name, problem))

    for reward_id in ("reward-01", "reward-02"):
        reward = config.rewards[reward_id]
        redemption_id, code = redemption_id_for(program_id, member_id, "key-1"), new_code()
        lots = [
            SpentLot("lot-1", NOW + timedelta(days=30)),
            SpentLot("lot-2", NOW + timedelta(days=90)),
        ]
        spends = [Spend("lot-1", "order#o-1", 60, 60), Spend("lot-2", "order#o-2", reward.cost - 60, 500)]
        details = {"reward_id": reward_id, "quantity": 1, "code": code}
        entry = LedgerEntry(redemption_id, "redeem", "redemption", redemption_id, -reward.cost, NOW, NOW, "hash")
        entry.spends, entry.details = spends, details
        counter = counter_for(reward_id, reward, 1, reward.cost, counter_shard(reward, redemption_id))
        store.record_redemption(member, entry, None, [counter] if counter else [], [], due=inactivity_due(config, NOW))
        simulated = redeem_writes(config, member_id, code, lots, counter, NOW)
        kind = "with a counter" if counter else "without a counter"
        checks.append((f"redeem ({kind})", _compare(simulated, recorder.actions)))

    newcomer = _new_member(config, "new-1", NOW, birthday=True)
    due = _enroll_due(config, newcomer, NOW)
    store.enroll(newcomer, [Identity("email", newcomer.email or "")], "outbox-1", [], due)
    checks.append(("enroll", _compare(enroll_writes(config, newcomer, due), recorder.actions)))
    return checks


def measure_hotkeys() -> HotKeysResult:
    return simulate()


def design_fix(key: str) -> str:
    """The design change a partition key over the target needs (the figure reports; the lead decides)."""
    if key.startswith(keys.program_pk(PROGRAM_ID) + "#REWARD#"):
        return (
            "the reward counter's shards differ only in the sort key (COUNTER#<n>), so they share one partition "
            "key and its 1,000 WCU/s: put the shard in the partition key (keys.reward_counter_key: "
            "PK PROG#p#REWARD#r#<n>, SK COUNTER); reward_counters reads them with the same BatchGetItem"
        )
    if key.startswith(keys.program_pk(PROGRAM_ID) + "#REPORT#"):
        return "raise keys.REPORT_SHARDS: every reporter transaction writes one shard's DAY and TOTALS items"
    if key.startswith(keys.EXPIRING + "#"):
        return "raise keys.EXPIRY_SHARDS: a day's new lots share it"
    if key.startswith(keys.member_pk(PROGRAM_ID, "")):
        return "one member writes more than a person can: check the simulation's per-member caps"
    return "spread its writes over more partition key values"
