"""Reports: what each stream record adds to the counters, how a batch is cut into transactions,
and the summary computed from counter items (no AWS)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest

from loyalty.domain.ledger import LedgerEntry, Spend
from loyalty.errors import ValidationFailed
from loyalty.services import reports
from loyalty.services.reports import (
    TOTALS,
    business_metrics,
    counted_records,
    daily_csv,
    period,
    record_changes,
    summary,
)
from loyalty.services.views import transactions_csv
from loyalty.store.dynamo import to_item
from loyalty.store.items import entry_item, member_item
from tests.unit.factories import member, program, standard_tiers, utc

P = "prog-1"


def utc_zone(_: str) -> str:
    return "UTC"


def berlin(_: str) -> str:
    return "Europe/Berlin"


def record(
    event: str,
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    event_id: str = "ev-1",
    sequence: str = "100",
) -> dict[str, Any]:
    images: dict[str, Any] = {"SequenceNumber": sequence, "ApproximateCreationDateTime": 1_780_000_000}
    if new is not None:
        images["NewImage"] = to_item(new)
    if old is not None:
        images["OldImage"] = to_item(old)
    return {"eventID": event_id, "eventName": event, "dynamodb": images}


NOV_3 = utc(2026, 11, 3, 10)


def entry(kind: str, points: int, at: datetime = NOV_3, **fields: Any) -> dict[str, Any]:
    source_kind = {"earn": "order", "redeem": "redemption"}.get(kind, kind)
    value = LedgerEntry(
        transaction_id=f"tx-{kind}",
        kind=kind,
        source_kind=fields.pop("source_kind", source_kind),
        source_id="s-1",
        points=points,
        recorded_at=at,
        occurred_at=at,
        request_hash="h",
        **fields,
    )
    return entry_item(P, "mem-1", value, [])


def profile(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"tier": "bronze", "enrolled_at": utc(2026, 11, 1, 9), "last_activity_at": None}
    fields.update(overrides)
    return member_item(member(**fields))


def day(changes: reports.Changes, on: str) -> Counter[str]:
    return changes[(P, on)]


# ------------------------------------------------------------------ ledger entries


def test_an_earn_counts_issued_points_and_its_rules_on_its_day_and_in_the_totals() -> None:
    snapshot = {"rules": [{"rule_id": "base_rate", "points": 80}, {"rule_id": "double_tuesday", "points": 40}]}
    changes = record_changes(record("INSERT", entry("earn", 120, snapshot=snapshot)), utc_zone)

    assert day(changes, "2026-11-03") == Counter(
        {
            "issued": 120,
            "net": 120,
            "earns": 1,
            "rule/base_rate/orders": 1,
            "rule/base_rate/points": 80,
            "rule/double_tuesday/orders": 1,
            "rule/double_tuesday/points": 40,
        }
    )
    assert changes[(P, TOTALS)] == Counter({"issued": 120, "net": 120, "earns": 1})


def test_the_day_is_the_programs_local_day() -> None:
    late = utc(2026, 11, 3, 23, 30)  # already 4 November in Berlin

    assert set(record_changes(record("INSERT", entry("earn", 5, late)), berlin)) == {(P, "2026-11-04"), (P, TOTALS)}
    assert set(record_changes(record("INSERT", entry("earn", 5, late)), utc_zone)) == {(P, "2026-11-03"), (P, TOTALS)}


def test_a_redemption_counts_points_spent_by_reward_and_reward_type() -> None:
    details = {"reward_id": "coffee", "reward_type": "product", "quantity": 2, "code": "X"}
    changes = record_changes(record("INSERT", entry("redeem", -200, details=details)), utc_zone)

    assert day(changes, "2026-11-03") == Counter(
        {
            "redeemed": 200,
            "net": -200,
            "redemptions": 1,
            "reward/coffee/redemptions": 1,
            "reward/coffee/points": 200,
            "type/product/redemptions": 1,
            "type/product/points": 200,
        }
    )
    assert changes[(P, TOTALS)] == Counter({"redeemed": 200, "net": -200, "redemptions": 1})


@pytest.mark.parametrize(
    ("kind", "points", "figures"),
    [
        ("cancel", 200, {"cancelled": 200, "net": 200, "cancellations": 1}),
        ("expire", -75, {"expired": 75, "net": -75}),
        ("reverse", -30, {"reversed": 30, "net": -30}),
        ("adjust", 15, {"adjusted": 15, "net": 15}),
    ],
)
def test_cancellations_expiries_reversals_and_adjustments(kind: str, points: int, figures: dict[str, int]) -> None:
    details = {"reward_id": "coffee", "redemption_id": "rd-1"} if kind == "cancel" else {}
    changes = record_changes(record("INSERT", entry(kind, points, details=details)), utc_zone)

    assert changes[(P, TOTALS)] == Counter(figures)
    expected_day = Counter(figures)
    if kind == "cancel":
        expected_day["reward/coffee/cancelled"] = 1
    assert day(changes, "2026-11-03") == expected_day


def test_outstanding_is_the_sum_of_the_ledger_whatever_the_kinds() -> None:
    entries = [("earn", 500), ("redeem", -200), ("cancel", 200), ("expire", -100), ("reverse", -50), ("adjust", 7)]
    totals: Counter[str] = Counter()
    for kind, points in entries:
        totals.update(record_changes(record("INSERT", entry(kind, points)), utc_zone)[(P, TOTALS)])

    assert totals["net"] == sum(points for _, points in entries) == 357
    assert totals["net"] == (
        totals["issued"]
        - totals["redeemed"]
        + totals["cancelled"]
        - totals["expired"]
        - totals["reversed"]
        + totals["adjusted"]
    )


def test_changes_to_existing_entries_count_nothing() -> None:
    lot = entry("earn", 100)
    spent = {**lot, "remaining": 40}

    assert record_changes(record("MODIFY", spent, lot), utc_zone) == {}
    assert record_changes(record("REMOVE", None, lot), utc_zone) == {}


@pytest.mark.parametrize(
    "item",
    [
        {"PK": "PROG#prog-1#REPORT#3", "SK": "DAY#2026-11-03", "type": "report_day", "issued": 5},
        {"PK": "REPORT#SEEN#ev-9", "SK": "SEEN", "type": "report_seen"},
        {"PK": "PROG#prog-1", "SK": "CFG", "type": "config", "data": {}},
        {"PK": "FAKE#x", "SK": "y"},
    ],
)
def test_other_items_count_nothing(item: dict[str, Any]) -> None:
    assert record_changes(record("INSERT", item), utc_zone) == {}


# ------------------------------------------------------------------ profiles


def test_an_enrollment_counts_on_its_day_in_its_tier_and_as_an_active_member() -> None:
    new = profile(last_activity_at=utc(2026, 11, 1, 9))

    changes = record_changes(record("INSERT", new), utc_zone)

    assert day(changes, "2026-11-01") == Counter({"enrollments": 1, "active_members": 1})
    assert changes[(P, TOTALS)] == Counter({"enrollments": 1, "tier/bronze": 1})


def test_a_member_is_active_once_a_day() -> None:
    before = profile(last_activity_at=utc(2026, 11, 3, 9))

    same_day = record_changes(record("MODIFY", profile(last_activity_at=utc(2026, 11, 3, 18)), before), utc_zone)
    next_day = record_changes(record("MODIFY", profile(last_activity_at=utc(2026, 11, 4, 8)), before), utc_zone)
    untouched = record_changes(record("MODIFY", before, before), utc_zone)

    assert same_day == untouched == {}
    assert next_day == {(P, "2026-11-04"): Counter({"active_members": 1})}


def test_tier_changes_and_erasure_move_members_between_tiers() -> None:
    bronze = profile()
    silver = profile(tier="silver")
    erased = member_item(replace(member(tier="silver", enrolled_at=utc(2026, 11, 1)), status="erased"))

    upgrade = record_changes(record("MODIFY", silver, bronze), utc_zone)
    erasure = record_changes(record("MODIFY", erased, silver), utc_zone)

    assert upgrade == {(P, TOTALS): Counter({"tier/silver": 1, "tier/bronze": -1})}
    assert erasure == {(P, TOTALS): Counter({"tier/silver": -1})}


def test_members_without_a_tier_count_under_none() -> None:
    changes = record_changes(record("INSERT", profile(tier=None)), utc_zone)

    assert changes[(P, TOTALS)]["tier/none"] == 1


# ------------------------------------------------------------------ batches


def test_only_records_that_change_a_counter_need_a_marker() -> None:
    records = [
        record("INSERT", entry("earn", 10), event_id="a", sequence="1"),
        record("MODIFY", {**entry("earn", 10), "remaining": 5}, entry("earn", 10), event_id="b", sequence="2"),
        record("INSERT", profile(), event_id="c", sequence="3"),
        record("MODIFY", profile(tier="bronze"), profile(), event_id="d", sequence="4"),  # nothing changed
    ]

    counted = counted_records(records, utc_zone)

    assert [(c.event_id, c.sequence) for c in counted] == [("a", "1"), ("c", "3")]
    assert all(c.expires == 1_780_000_000 + 2 * 86_400 for c in counted)


def test_a_batch_is_cut_into_transactions_of_at_most_100_items_in_stream_order() -> None:
    # 150 earns on 30 different days: each needs its marker, its day item and the totals item.
    records = [
        record("INSERT", entry("earn", 1, utc(2026, 11, 1 + n % 30, 10)), event_id=f"e{n}", sequence=str(n))
        for n in range(150)
    ]
    counted = counted_records(records, utc_zone)

    chunks = reports._chunks(counted)

    assert [c.sequence for chunk in chunks for c in chunk] == [str(n) for n in range(150)]
    for chunk in chunks:
        items = {key for c in chunk for key in c.changes}
        assert len(chunk) + len(items) <= reports.MAX_TRANSACTION_ITEMS
    assert len(chunks) == 3  # 70 markers + 30 days = 100, then 70 + 30, then 10 + 10 + 1


def test_business_metrics_come_from_the_totals_only() -> None:
    changes: reports.Changes = {}
    for kind, points in (("earn", 300), ("redeem", -100), ("expire", -20), ("cancel", 100)):
        reports.merge(changes, record_changes(record("INSERT", entry(kind, points)), utc_zone))
    reports.merge(changes, record_changes(record("INSERT", profile()), utc_zone))

    assert business_metrics(changes) == {
        "PointsEarned": 300,
        "PointsRedeemed": 100,
        "PointsExpired": 20,
        "PointsReversed": 0,
        "PointsCancelled": 100,
        "Redemptions": 1,
        "Enrollments": 1,
    }


# ------------------------------------------------------------------ summary


def test_the_period_defaults_to_30_days_and_is_validated() -> None:
    today = date(2026, 11, 23)

    assert period(None, None, today) == (date(2026, 10, 25), today)
    assert period(date(2026, 11, 1), date(2026, 11, 30), today) == (date(2026, 11, 1), date(2026, 11, 30))
    assert period(date(2025, 11, 23), date(2026, 11, 23), today)[0] == date(2025, 11, 23)  # 366 days
    with pytest.raises(ValidationFailed):
        period(date(2026, 11, 2), date(2026, 11, 1), today)
    with pytest.raises(ValidationFailed):
        period(date(2025, 11, 22), date(2026, 11, 23), today)  # 367 days


def test_the_summary_fills_every_day_and_ranks_rewards_and_rules() -> None:
    config = program(tiers=standard_tiers(), point_value="0.005", timezone="Europe/Berlin")
    days = [
        {
            "day": "2026-11-02",
            "issued": 1000,
            "earns": 3,
            "enrollments": 2,
            "active_members": 2,
            "rule/base_rate/orders": 3,
            "rule/base_rate/points": 900,
            "rule/activity:review/orders": 4,
            "rule/activity:review/points": 100,
        },
        {
            "day": "2026-11-04",
            "redeemed": 300,
            "expired": 50,
            "redemptions": 3,
            "cancelled": 100,
            "cancellations": 1,
            "reward/coffee/redemptions": 1,
            "reward/coffee/points": 100,
            "reward/coffee/cancelled": 1,
            "reward/ten-off/redemptions": 2,
            "reward/ten-off/points": 200,
            "type/product/redemptions": 1,
            "type/product/points": 100,
            "type/discount/redemptions": 2,
            "type/discount/points": 200,
        },
    ]
    totals = {"net": 2001, "issued": 5000, "tier/bronze": 7, "tier/gold": 1}

    report = summary(config, date(2026, 11, 1), date(2026, 11, 5), days, totals)

    assert [row["date"] for row in report["daily"]] == [f"2026-11-0{n}" for n in range(1, 6)]
    assert report["daily"][0] == {"date": "2026-11-01", **{name: 0 for name in reports.CSV_COLUMNS[1:]}}
    assert report["daily"][1]["issued"] == 1000 and report["daily"][3]["redeemed"] == 300
    assert (report["issued"], report["redeemed"], report["expired"], report["cancelled"]) == (1000, 300, 50, 100)
    assert report["enrollments"] == 2 and report["redemptions"] == 3
    assert report["outstanding"] == 2001
    assert report["liability"] == {"amount": 10.01, "currency": "EUR"}  # 2001 x 0.005, to the cent
    assert report["breakage_rate"] == 0.05
    assert report["members_by_tier"] == {"bronze": 7, "silver": 0, "gold": 1}
    assert report["members"] == 8
    assert report["top_rewards"] == [
        {"reward_id": "ten-off", "redemptions": 2, "points": 200, "cancelled": 0},
        {"reward_id": "coffee", "redemptions": 1, "points": 100, "cancelled": 1},
    ]
    assert report["rewards_by_type"][0] == {"reward_type": "discount", "redemptions": 2, "points": 200}
    assert report["top_rules"] == [
        {"rule_id": "base_rate", "orders": 3, "points": 900},
        {"rule_id": "activity:review", "orders": 4, "points": 100},
    ]
    assert summary(config, date(2026, 11, 1), date(2026, 11, 5), days, totals, top=1)["top_rules"] == [
        {"rule_id": "base_rate", "orders": 3, "points": 900}
    ]


def test_nothing_issued_means_no_breakage_rate() -> None:
    report = summary(program(), date(2026, 11, 1), date(2026, 11, 1), [], {})

    assert report["breakage_rate"] is None
    assert report["outstanding"] == 0 and report["members_by_tier"] == {}


def test_the_csv_has_a_header_and_a_line_per_day() -> None:
    days = [{"day": "2026-11-02", "issued": 10, "enrollments": 1}]
    report = summary(program(), date(2026, 11, 1), date(2026, 11, 3), days, {})

    lines = daily_csv(report).splitlines()

    assert lines[0].split(",") == list(reports.CSV_COLUMNS)
    assert len(lines) == 4
    assert lines[2].startswith("2026-11-02,10,0,0,0,0,0,1,")


def test_the_transactions_csv_neutralises_spreadsheet_formulas() -> None:
    entry = LedgerEntry(
        "tx-1", "redeem", "redemption", "=HYPERLINK(1)", -50, utc(2026, 11, 3), utc(2026, 11, 3), "h", status="issued"
    )
    entry.spends = [Spend("lot", "order#o", 50, 50)]

    lines = transactions_csv([entry]).splitlines()

    assert lines[0] == "transaction_id,recorded_at,kind,source_kind,source_id,points,status"
    assert lines[1] == "tx-1,2026-11-03T00:00:00+00:00,redeem,redemption,'=HYPERLINK(1),-50,issued"


# ------------------------------------------------------------------ applying a batch (a store in memory)


class MemoryStore:
    """Markers and counters as DynamoDB would keep them; a cancellation names only the first marker found."""

    def __init__(self, conflicts: int = 0, fail: bool = False) -> None:
        self.seen: set[str] = set()
        self.counters: reports.Changes = {}
        self.transactions = 0
        self.conflicts = conflicts
        self.fail = fail

    def apply_report_changes(self, markers: list[tuple[str, int]], changes: reports.Changes) -> None:
        from loyalty.errors import Unavailable
        from loyalty.store.store import Cancelled

        if self.fail:
            raise Unavailable("throttled")
        if self.conflicts:
            self.conflicts -= 1
            raise Cancelled({}, {"count0": "TransactionConflict"})
        for n, (event_id, _) in enumerate(markers):
            if event_id in self.seen:
                raise Cancelled({f"seen{n}": {"PK": event_id}})
        self.seen |= {event_id for event_id, _ in markers}
        reports.merge(self.counters, changes)
        self.transactions += 1

    def report_seen(self, event_ids: list[str]) -> set[str]:
        return self.seen & set(event_ids)


def earns(count: int, first: int = 0) -> list[dict[str, Any]]:
    return [record("INSERT", entry("earn", 10), event_id=f"e{n}", sequence=str(n)) for n in range(first, first + count)]


def test_a_replayed_batch_counts_once_even_when_only_one_duplicate_is_named() -> None:
    store = MemoryStore()
    reports.apply_batch(store, earns(5), utc_zone)

    again = reports.apply_batch(store, earns(8), utc_zone)  # 5 seen, 3 new

    assert (again.applied, again.duplicates, again.failed_sequence) == (3, 5, None)
    assert store.counters[(P, TOTALS)]["issued"] == 80
    assert business_metrics(again.changes)["PointsEarned"] == 30  # metrics only for what was counted now


def test_a_conflict_with_a_concurrent_batch_is_retried() -> None:
    store = MemoryStore(conflicts=2)

    result = reports.apply_batch(store, earns(3), utc_zone)

    assert (result.applied, result.transactions, result.failed_sequence) == (3, 1, None)


def test_a_failure_leaves_the_failed_chunk_and_the_rest_for_the_retry() -> None:
    store = MemoryStore(fail=True)
    records = [record("INSERT", {"PK": "X", "SK": "Y"}, event_id="x", sequence="0"), *earns(3, first=1)]

    result = reports.apply_batch(store, records, utc_zone)

    assert result.failed_sequence == "1" and result.applied == 0 and result.ignored == 1
    assert result.error is not None
