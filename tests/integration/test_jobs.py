"""Points in time: expiry sweeps, pending activation, reminders and tier review, run as the scheduler runs them."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from loyalty.config import settings
from loyalty.store import keys
from loyalty.store.store import LoyaltyStore
from tests.helpers import Api, handler, ledger_invariant, sqs_event
from tests.integration.conftest import PROGRAM, enroll, order

P = "/v1/programs/acme"


class Jobs:
    """Runs a scheduled function with a Scheduler event for `now`, then drains what it enqueued."""

    def __init__(self, queue_url: str) -> None:
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.queue_url = queue_url

    def run(self, job: str, now: datetime, workers: int = 1) -> dict[str, Any]:
        name = {"expiry-sweep": "expiry_sweep", "pending-activation": "expiry_sweep"}.get(job, job.replace("-", "_"))
        result = handler(name)({"job": job, "scheduled_time": now.isoformat(), "execution_id": str(uuid.uuid4())}, None)
        messages = self._drain()
        # `workers` deliveries of every message at once: what a redelivery or an overlapping sweep does.
        with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
            outcomes = list(
                pool.map(lambda body: handler("expiry_worker")(sqs_event([body]), None), messages * workers)
            )
        assert all(o["batchItemFailures"] == [] for o in outcomes)
        return result

    def _drain(self) -> list[dict[str, Any]]:
        bodies = []
        while batch := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", []):
            bodies += [json.loads(m["Body"]) for m in batch]
            for m in batch:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return bodies


@pytest.fixture
def jobs(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Jobs]:
    url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="ExpiryQueue")["QueueUrl"]
    monkeypatch.setenv("LOYALTY_EXPIRY_QUEUE_URL", url)
    settings.cache_clear()
    yield Jobs(url)
    settings.cache_clear()


def _entries(store: LoyaltyStore, member_id: str, kind: str) -> list[dict[str, Any]]:
    return [i for i in store.member_items("acme", member_id) if i.get("type") == "entry" and i["kind"] == kind]


MEMBERS = 400


def test_a_sweep_expires_exactly_the_due_lots_once_even_run_twice_and_concurrently(
    api: Api, program: str, store: LoyaltyStore, jobs: Jobs, clock: Any
) -> None:
    # 400 members; 40 hold a lot that expired yesterday, 360 hold fresh lots. (moto reads the whole
    # table for each of the sweep's 256 index queries: the bench runs the sweep at 10,000 members.)
    due = {f"m{n}" for n in range(0, MEMBERS, 10)}
    for n in range(MEMBERS):
        member_id = f"m{n}"
        enroll(api, program, member_id)
        occurred = "2025-11-22T09:00:00+00:00" if member_id in due else "2026-11-01T09:00:00+00:00"
        assert api.post(f"{P}/members/{member_id}/orders", order("o-1", 40, occurred)).status == 201
    now = clock()

    first = jobs.run("expiry-sweep", now, workers=2)  # two deliveries of every shard message at once
    jobs.run("expiry-sweep", now)  # and the whole sweep again

    assert first["messages"] == keys.EXPIRY_SHARDS
    expired = {m for m in (f"m{n}" for n in range(MEMBERS)) if _entries(store, m, "expire")}
    assert expired == due
    for member_id in sorted(due)[:10]:
        assert [e["points"] for e in _entries(store, member_id, "expire")] == [-40]
        assert ledger_invariant(store, program, member_id)["balance"] == 0
        assert api.get(f"{P}/members/{member_id}/lots").body["lots"] == []
    assert ledger_invariant(store, program, "m1")["balance"] == 40


def test_a_partly_spent_lot_expires_only_what_is_left(
    api: Api, program: str, store: LoyaltyStore, jobs: Jobs, clock: Any
) -> None:
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 150, "2025-12-01T00:00:00+00:00"))
    api.post(f"{P}/members/m1/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k"})

    jobs.run("expiry-sweep", datetime.fromisoformat("2026-12-01T01:00:00+00:00"))

    assert [e["points"] for e in _entries(store, "m1", "expire")] == [-50]
    ledger_invariant(store, program, "m1")


def test_pending_points_become_spendable_at_activation(api: Api, store: LoyaltyStore, jobs: Jobs, clock: Any) -> None:
    api.put("/v1/programs/acme", {**PROGRAM, "pending_days": 14})
    api.put(f"{P}/rewards/coffee", {"name": "Coffee", "type": "product", "cost": 100})
    enroll(api, "acme", "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 120, "2026-11-20T10:00:00+00:00"))

    too_early = jobs.run("pending-activation", clock())
    clock.advance(days=12)
    jobs.run("pending-activation", clock())
    jobs.run("pending-activation", clock())  # twice: nothing moves twice

    assert too_early["messages"] == keys.EXPIRY_SHARDS
    view = api.get(f"{P}/members/m1").body
    assert (view["balance"], view["pending"]) == (120, 0)
    redeemed = api.post(f"{P}/members/m1/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k"})
    assert redeemed.status == 201
    ledger_invariant(store, "acme", "m1")


def _reminders(store: LoyaltyStore, member_id: str) -> list[dict[str, Any]]:
    items = store.member_items("acme", member_id)
    return [event for item in items if item.get("type") == "reminder" for event in item["outbox"]]


def test_one_reminder_per_window_across_three_daily_runs_and_only_with_consent(
    api: Api, program: str, store: LoyaltyStore, clock: Any
) -> None:
    now = clock()
    enroll(api, program, "yes", consents={"marketing_email": True})
    enroll(api, program, "no")
    enroll(api, program, "gone", consents={"marketing_email": True})
    for member_id in ("yes", "no", "gone"):
        # Rolling 365 days: these lots expire in 30 and in 7 days.
        for order_id, days in (("a", 30), ("b", 7)):
            occurred = (now + timedelta(days=days) - timedelta(days=365)).isoformat()
            api.post(f"{P}/members/{member_id}/orders", order(order_id, 70, occurred))
    api.call("DELETE", f"{P}/members/gone")

    for day in range(3):
        handler("reminders")({"job": "reminders", "scheduled_time": (now + timedelta(days=day)).isoformat()}, None)

    sent = _reminders(store, "yes")
    assert sorted(r["window_days"] for r in sent) == [7, 30]
    by_window = {r["window_days"]: r for r in sent}
    assert by_window[7]["points"] == 70 and by_window[30]["points"] == 70
    assert by_window[30]["type"] == "reminder.points_expiring" and by_window[30]["channels"] == ["email"]
    assert _reminders(store, "no") == [] and _reminders(store, "gone") == []


def test_tier_rises_on_earn_and_falls_at_review_after_its_window(
    api: Api, program: str, store: LoyaltyStore, clock: Any
) -> None:
    enroll(api, program, "m1")
    earned = api.post(f"{P}/members/m1/orders", order("o-1", 2100))
    assert earned.body["tier"] == "gold"
    outbox = Counter(e["type"] for i in store.member_items(program, "m1") for e in i.get("outbox", []))
    assert outbox["tier.changed"] == 1

    early = handler("tier_review")(
        {"job": "tier-review", "scheduled_time": (clock() + timedelta(days=100)).isoformat()}, None
    )
    # Qualifying points count by whole calendar months: November 2026 has left the window a year and a day later.
    later = clock() + timedelta(days=366)
    review = handler("tier_review")({"job": "tier-review", "scheduled_time": later.isoformat()}, None)
    again = handler("tier_review")({"job": "tier-review", "scheduled_time": later.isoformat()}, None)

    assert early["changed"] == 0
    assert review["downgraded"] == 1 and again["changed"] == 0
    profile = next(i for i in store.member_items(program, "m1") if i["SK"] == "PROFILE")
    assert profile["tier"] == "silver"  # one level down
    assert profile["outbox"][0] == {**profile["outbox"][0], "type": "tier.changed", "old": "gold", "new": "silver"}


def test_welcome_and_birthday_reminders_come_once_on_their_day(api: Api, store: LoyaltyStore, clock: Any) -> None:
    reminders = {"expiring_days_before": [], "welcome_days_after": [5], "birthday": True}
    api.put("/v1/programs/acme", {**PROGRAM, "reminders": reminders})
    consent = {"marketing_email": True}
    enroll(api, "acme", "ada", consents=consent, birthday="1990-11-30")
    enroll(api, "acme", "leap", consents=consent, birthday="2000-02-29")
    enroll(api, "acme", "quiet", birthday="1990-11-30")

    def run(day: datetime) -> dict[str, Any]:
        return handler("reminders")({"job": "reminders", "scheduled_time": day.isoformat()}, None)

    start = clock()
    runs = [run(start + timedelta(days=n)) for n in range(10)]

    kinds = Counter(r["type"] for r in _reminders(store, "ada"))
    assert kinds == {"reminder.welcome": 1, "reminder.birthday": 1}
    assert [r["days_after"] for r in _reminders(store, "ada") if r["type"] == "reminder.welcome"] == [5]
    assert _reminders(store, "quiet") == []  # no consent
    assert sum(r.get("reminder.welcome", 0) for r in runs) == 2  # ada and leap, on day 5 only
    # A 29 February birthday is celebrated on the 28th in other years.
    leap = run(datetime.fromisoformat("2027-02-28T09:00:00+00:00"))
    assert leap.get("reminder.birthday") == 1
    # An erased member's birthday leaves the index with the rest of their personal data.
    api.call("DELETE", "/v1/programs/acme/members/ada")
    assert run(datetime.fromisoformat("2027-11-30T09:00:00+00:00")).get("reminder.birthday") is None


def test_inactivity_expires_every_point_after_the_last_activity(
    api: Api, store: LoyaltyStore, jobs: Jobs, clock: Any
) -> None:
    api.put("/v1/programs/acme", {**PROGRAM, "expiry": {"policy": "inactivity", "days": 90}})
    api.put(f"{P}/rewards/coffee", {"name": "Coffee", "type": "product", "cost": 10})
    enroll(api, "acme", "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 50, "2026-11-01T00:00:00+00:00"))
    clock.advance(days=60)
    api.post(f"{P}/members/m1/orders", order("o-2", 30, clock().isoformat()))  # activity moves the date
    clock.advance(days=60)
    api.post(f"{P}/members/m1/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k"})  # and again

    jobs.run("expiry-sweep", clock() + timedelta(days=89))
    assert _entries(store, "m1", "expire") == []

    jobs.run("expiry-sweep", clock() + timedelta(days=91))
    jobs.run("expiry-sweep", clock() + timedelta(days=92))

    expired = _entries(store, "m1", "expire")
    assert [e["points"] for e in expired] == [-70]
    assert ledger_invariant(store, "acme", "m1")["balance"] == 0
