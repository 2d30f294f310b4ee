"""Reports: a scripted month of activity, counted from the table's stream by the reporter, against the ledger.

The stream is read from moto as Lambda reads it (batches of 100 in order) and fed to the real
reporter handler; the summary comes from the real reports handler. The expected figures are
computed here straight from the ledger entries and profiles, independently of the reporter.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from infra.definitions import TABLE
from loyalty.services.schedule import days_back, sweep_shard
from loyalty.store import keys
from loyalty.store.dynamo import from_item
from loyalty.store.store import LoyaltyStore
from tests.helpers import Api, handler
from tests.integration.conftest import PROGRAM, Clock, Stream, enroll, order

P = "/v1/programs/acme"
ZONE = "Europe/Berlin"
MONTH = (date(2026, 11, 1), date(2026, 11, 30))
BATCH = 100  # the reporter's event source batch size


def feed(events: list[dict[str, Any]]) -> None:
    for event in events:
        assert handler("reporter")(event, None) == {"batchItemFailures": []}


def summary(api: Api, first: date, last: date, **query: str) -> Any:
    answer = api.get(f"{P}/reports/summary", query={"from": first.isoformat(), "to": last.isoformat(), **query})
    assert answer.status == 200, answer.body
    return answer.body


@pytest.fixture
def month_program(api: Api, program: str) -> str:
    """The tests' program on Berlin days, lots expiring after 10 days (so a month sees expiries), a second reward."""
    settings = {**PROGRAM, "timezone": ZONE, "expiry": {"policy": "rolling", "days": 10}, "point_value": "0.02"}
    assert api.put(P, settings).status == 200
    reward = {"name": "Ten off", "type": "discount", "cost": 250, "value": {"amount": 10, "currency": "EUR"}}
    assert api.put(f"{P}/rewards/ten-off", reward).status == 201
    return program


def play_month(api: Api, store: LoyaltyStore, clock: Clock) -> list[str]:
    """A month of enrollments, orders, refunds, activities, redemptions, cancellations, erasures and expiry sweeps.

    Things happen at 09:00 and at 23:30 UTC: the latter is already the next day in Berlin.
    """
    rng = random.Random(7)
    members: list[str] = []  # everyone ever enrolled
    current: list[str] = []  # not erased
    redemptions: list[tuple[str, str]] = []
    orders: list[tuple[str, str, float]] = []
    refund_rng = random.Random(11)  # its own draws: the rest of the month stays as it was
    start = datetime(2026, 10, 31, 9, 0, tzinfo=UTC)
    for day in range(31):
        for hour, minute in ((9, 0), (23, 30)):
            clock.moment = start + timedelta(days=day, hours=hour - 9, minutes=minute)
            now = clock.moment
            for _ in range(rng.randint(0, 1)):
                member_id = f"m{len(members):03d}"
                enroll(api, "acme", member_id)
                members.append(member_id)
                current.append(member_id)
            for member_id in rng.sample(current, min(len(current), 3)):
                body = order(f"o-{member_id}-{now:%m%d%H}", rng.choice([12, 40, 75.5, 180, 420]), now.isoformat())
                assert api.post(f"{P}/members/{member_id}/orders", body).status == 201
                orders.append((member_id, body["order_id"], body["amount"]))
            if orders and refund_rng.random() < 0.5:
                # A return: part of the amount or the rest of the order (spent points become debt).
                member_id, order_id, amount = orders.pop(refund_rng.randrange(len(orders)))
                refund: dict[str, Any] = {"refund_id": f"rf-{order_id}"}
                if refund_rng.random() < 0.5:
                    refund["amount"] = round(amount / 3, 2)
                if member_id in current:
                    answer = api.post(f"{P}/members/{member_id}/orders/{order_id}/refunds", refund)
                    assert answer.status == 201, answer.body
            for member_id in rng.sample(current, min(len(current), 1)):
                activity = {
                    "activity_id": f"a-{member_id}-{now:%m%d%H}",
                    "type": "review",
                    "occurred_at": now.isoformat(),
                }
                assert api.post(f"{P}/members/{member_id}/activities", activity).status == 201
            for member_id in rng.sample(current, min(len(current), 2)):
                reward_id = rng.choice(["coffee", "ten-off"])
                key = f"r-{member_id}-{now:%m%d%H}"
                answer = api.post(
                    f"{P}/members/{member_id}/redemptions", {"reward_id": reward_id}, headers={"Idempotency-Key": key}
                )
                assert answer.status in (201, 422), answer.body  # 422: not enough points
                if answer.status == 201:
                    redemptions.append((member_id, answer.body["redemption_id"]))
            if redemptions and rng.random() < 0.4:
                member_id, redemption_id = redemptions.pop(rng.randrange(len(redemptions)))
                assert api.post(f"{P}/members/{member_id}/redemptions/{redemption_id}/cancel").status == 201
            if day in (12, 25) and hour == 9:
                erased = current.pop(day // 2)
                assert api.call("DELETE", f"{P}/members/{erased}").status == 200
                redemptions = [(m, r) for m, r in redemptions if m != erased]
            # The hourly sweep, twice a day here (over today and yesterday): lots earned 10 days ago expire.
            for shard in range(keys.EXPIRY_SHARDS):
                sweep_shard(store, "expire", shard, days_back(now, 1), now)
    return members


def local(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(ZONE)).date().isoformat()


def member_items(dynamodb: Any) -> dict[str, list[dict[str, Any]]]:
    """Every member's items, read in one Scan (the test's view of the truth, not the reporter's)."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for page in dynamodb.get_paginator("scan").paginate(TableName=TABLE.logical_id):
        for item in map(from_item, page["Items"]):
            if item["PK"].startswith("PROG#acme#MEM#"):
                found[item["PK"].removeprefix("PROG#acme#MEM#")].append(item)
    return found


def from_ledger(by_member: dict[str, list[dict[str, Any]]], first: date, last: date) -> dict[str, Any]:
    """The report's figures computed from every member's items, day by day."""
    days = {(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)}
    figures: Counter[str] = Counter()
    daily: dict[str, Counter[str]] = defaultdict(Counter)
    active: dict[str, set[str]] = defaultdict(set)
    rewards: dict[str, Counter[str]] = defaultdict(Counter)
    rules: dict[str, Counter[str]] = defaultdict(Counter)
    tiers: Counter[str] = Counter()
    outstanding = held = 0
    for member_id, items in by_member.items():
        profile = next(item for item in items if item["SK"] == keys.PROFILE)
        held += profile["balance"] + profile["pending"] - profile.get("debt", 0)
        if profile["status"] != "erased":
            tiers[profile["tier"]] += 1
        if local(profile["enrolled_at"]) in days:
            daily[local(profile["enrolled_at"])]["enrollments"] += 1
            active[local(profile["enrolled_at"])].add(member_id)
        for entry in (item for item in items if item.get("type") == "entry"):
            outstanding += entry["points"]
            on = local(entry["recorded_at"])
            if on not in days:
                continue
            name = {
                "earn": "issued",
                "redeem": "redeemed",
                "cancel": "cancelled",
                "expire": "expired",
                "reverse": "reversed",
            }[entry["kind"]]
            daily[on][name] += abs(entry["points"])
            if entry["kind"] in ("earn", "redeem"):
                active[on].add(member_id)
            if entry["kind"] == "redeem":
                daily[on]["redemptions"] += 1
                reward = rewards[entry["details"]["reward_id"]]
                reward["redemptions"] += 1
                reward["points"] -= entry["points"]
            if entry["kind"] == "cancel":
                daily[on]["cancellations"] += 1
                rewards[entry["details"]["reward_id"]]["cancelled"] += 1
            for rule in (entry.get("snapshot") or {}).get("rules") or ():
                rules[rule["rule_id"]]["orders"] += 1
                rules[rule["rule_id"]]["points"] += rule["points"]
    for on, members_active in active.items():
        daily[on]["active_members"] = len(members_active)
    for counter in daily.values():
        figures.update(counter)
    assert outstanding == held  # the ledger explains every balance
    return {
        "figures": figures,
        "daily": daily,
        "rewards": {r: dict(c) for r, c in rewards.items()},
        "rules": {r: dict(c) for r, c in rules.items()},
        "tiers": tiers,
        "outstanding": outstanding,
    }


def emf_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_a_month_of_activity_reported_from_the_stream_equals_the_ledger_once_and_in_halves(
    api: Api,
    month_program: str,
    store: LoyaltyStore,
    clock: Clock,
    dynamodb: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One expiry index shard: moto answers an index Query by reading the whole table, and 62 sweeps of
    # 32 shards took minutes. The shard fan-out itself is tested in test_jobs.py.
    monkeypatch.setattr(keys, "EXPIRY_SHARDS", 1)
    stream = Stream(dynamodb, BATCH)
    members = play_month(api, store, clock)
    batches = stream.batches()
    capsys.readouterr()

    feed(batches)
    feed(stream.batches())  # the reporter's own writes come back on the stream: they count for nothing
    metrics = emf_lines(capsys.readouterr().out)
    report = summary(api, *MONTH)
    feed(batches)  # the whole stream delivered again
    replayed_metrics = emf_lines(capsys.readouterr().out)

    everyone = member_items(dynamodb)
    assert sorted(everyone) == sorted(members)
    # The reporter's transactions spread over the report shards; the summary added them up.
    written = [
        shard
        for shard in range(keys.REPORT_SHARDS)
        if dynamodb.query(
            TableName=TABLE.logical_id,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.report_pk(month_program, shard)}},
            Select="COUNT",
        )["Count"]
    ]
    assert len(written) > 1
    expected = from_ledger(everyone, *MONTH)
    figures = expected["figures"]
    assert figures["issued"] > 0 and figures["redeemed"] > 0 and figures["expired"] > 0
    assert figures["cancelled"] > 0 and figures["enrollments"] > 0 and figures["reversed"] > 0
    assert len(expected["tiers"]) >= 2 and len(everyone) - sum(expected["tiers"].values()) == 2  # upgrades, erasures
    for name in ("issued", "redeemed", "cancelled", "expired", "enrollments", "redemptions", "cancellations"):
        assert report[name] == figures[name], name
    assert report["reversed"] == figures["reversed"]
    for row in report["daily"]:
        day = expected["daily"].get(row["date"], Counter())
        for name in (
            "issued",
            "redeemed",
            "cancelled",
            "expired",
            "reversed",
            "enrollments",
            "redemptions",
            "active_members",
        ):
            assert row[name] == day[name], (row["date"], name)
    assert report["outstanding"] == expected["outstanding"]
    assert report["liability"] == {"amount": round(expected["outstanding"] * 0.02, 2), "currency": "EUR"}
    assert report["breakage_rate"] == round(figures["expired"] / figures["issued"], 4)
    assert {t: n for t, n in report["members_by_tier"].items() if n} == dict(expected["tiers"])
    assert {r["reward_id"]: {k: v for k, v in r.items() if k != "reward_id"} for r in report["top_rewards"]} == {
        reward: {"redemptions": 0, "points": 0, "cancelled": 0, **figures}
        for reward, figures in expected["rewards"].items()
    }
    assert {r["rule_id"]: {"orders": r["orders"], "points": r["points"]} for r in report["top_rules"]} == expected[
        "rules"
    ]

    # Replaying the stream changes nothing, and publishes no metric twice.
    assert summary(api, *MONTH) == report
    assert replayed_metrics == []
    sent = Counter[str]()
    for line in metrics:
        for definition in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            values = line[definition["Name"]]  # EMF holds a list of values per metric
            sent[definition["Name"]] += int(sum(values) if isinstance(values, list) else values)
        assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Loyalty"
    # The metrics count all time (last October's enrollments too): compare with the all-time ledger.
    everything = from_ledger(everyone, date(2026, 10, 1), date(2026, 12, 31))["figures"]
    assert sent["PointsEarned"] == everything["issued"] and sent["PointsRedeemed"] == everything["redeemed"]
    assert sent["PointsExpired"] == everything["expired"] and sent["PointsCancelled"] == everything["cancelled"]
    assert sent["Enrollments"] == everything["enrollments"] and sent["Redemptions"] == everything["redemptions"]
    assert sent["PointsReversed"] == everything["reversed"] > 0

    # Two halves add up to the whole month.
    first = summary(api, date(2026, 11, 1), date(2026, 11, 15))
    second = summary(api, date(2026, 11, 16), date(2026, 11, 30))
    for name in ("issued", "redeemed", "cancelled", "expired", "reversed", "enrollments", "redemptions"):
        assert first[name] + second[name] == report[name], name
    assert first["daily"] + second["daily"] == report["daily"]
    assert first["outstanding"] == second["outstanding"] == report["outstanding"]
    halves: Counter[str] = Counter()
    for half in (first, second):
        for row in half["top_rewards"]:
            halves[row["reward_id"]] += row["redemptions"]
    assert halves == Counter({row["reward_id"]: row["redemptions"] for row in report["top_rewards"]})


def test_a_record_delivered_twice_in_one_batch_or_across_batches_counts_once(
    api: Api, program: str, dynamodb: Any
) -> None:
    stream = Stream(dynamodb, BATCH)
    enroll(api, program, "m1")
    assert api.post(f"{P}/members/m1/orders", order("o-1", 120)).status == 201
    (event,) = stream.batches()
    doubled = {"Records": event["Records"] + event["Records"][1:]}  # a retry overlapping the first delivery

    feed([doubled])
    feed([{"Records": event["Records"][-1:]}])

    report = summary(api, date(2026, 11, 23), date(2026, 11, 23))
    assert (report["issued"], report["enrollments"], report["members_by_tier"]["bronze"]) == (120, 1, 1)
    assert report["daily"][0]["active_members"] == 1


def test_a_failed_transaction_reports_the_first_record_not_counted_and_the_retry_counts_it(
    api: Api, program: str, dynamodb: Any, store: LoyaltyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loyalty.errors import Unavailable

    stream = Stream(dynamodb, BATCH)
    enroll(api, program, "m1")
    assert api.post(f"{P}/members/m1/orders", order("o-1", 80)).status == 201
    (event,) = stream.batches()

    def throttled(*args: Any, **kwargs: Any) -> None:
        raise Unavailable("throttled")

    with monkeypatch.context() as patch:
        patch.setattr(LoyaltyStore, "apply_report_changes", throttled)
        result = handler("reporter")(event, None)
    counted = [r for r in event["Records"] if r["dynamodb"]["NewImage"]["type"]["S"] in ("member", "entry")]
    assert result == {"batchItemFailures": [{"itemIdentifier": counted[0]["dynamodb"]["SequenceNumber"]}]}
    feed([event])

    assert summary(api, date(2026, 11, 23), date(2026, 11, 23))["issued"] == 80


def test_the_summary_and_its_csv(api: Api, program: str, dynamodb: Any) -> None:
    stream = Stream(dynamodb, BATCH)
    enroll(api, program, "m1")
    assert api.post(f"{P}/members/m1/orders", order("o-1", 250)).status == 201
    feed(stream.batches())

    by_query = api.call(
        "GET", f"{P}/reports/summary", query={"from": "2026-11-22", "to": "2026-11-23", "format": "csv"}
    )
    by_accept = api.call("GET", f"{P}/reports/summary", headers={"Accept": "text/csv"}, query={"from": "2026-11-22"})
    default = summary(api, date(2026, 10, 25), date(2026, 11, 23))

    assert by_query.status == by_accept.status == 200
    lines = by_query.body.splitlines() if isinstance(by_query.body, str) else None
    assert lines is not None
    assert lines[0].startswith("date,issued,redeemed,")
    assert lines[1].startswith("2026-11-22,0,") and lines[2].startswith("2026-11-23,250,")
    assert by_accept.headers["Content-Type"] == "text/csv" and by_accept.body.count("\n") == 3
    assert api.get(f"{P}/reports/summary").body == default  # the last 30 days up to today


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-11-31"},
        {"from": "yesterday"},
        {"from": "2026-11-10", "to": "2026-11-01"},
        {"from": "2025-01-01", "to": "2026-11-01"},
        {"format": "xml"},
    ],
)
def test_bad_periods_are_refused(api: Api, program: str, query: dict[str, str]) -> None:
    answer = api.get(f"{P}/reports/summary", query=query)

    assert answer.status == 422 and answer.error_code == "validation_error", answer.body


def test_an_unknown_program_has_no_report(api: Api) -> None:
    assert api.get("/v1/programs/nope/reports/summary").error_code == "not_found"


def test_a_members_transactions_as_csv_cover_every_page(api: Api, program: str) -> None:
    enroll(api, program, "m1")
    for n in range(105):
        assert api.post(f"{P}/members/m1/orders", order(f"o-{n}", 10 + n)).status == 201
    api.post(f"{P}/members/m1/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k"})

    answer = api.get(f"{P}/members/m1/transactions", query={"format": "csv"})
    page = api.get(f"{P}/members/m1/transactions", query={"limit": "5"})

    assert answer.status == 200 and answer.headers["Content-Type"] == "text/csv"
    lines = answer.body.splitlines()
    assert lines[0] == "transaction_id,recorded_at,kind,source_kind,source_id,points,status"
    assert len(lines) == 1 + 106
    assert lines[1].split(",")[2:6] == ["redeem", "redemption", lines[1].split(",")[4], "-100"]
    balance = api.get(f"{P}/members/m1").body["balance"]
    assert sum(int(line.split(",")[5]) for line in lines[1:]) == balance
    assert len(page.body["transactions"]) == 5 and page.body["cursor"]  # JSON pages as before
    assert api.get(f"{P}/members/ghost/transactions", query={"format": "csv"}).error_code == "not_found"
