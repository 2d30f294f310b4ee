"""Figure 3: the items the scheduled jobs read per unit of work, in-process against moto.

The jobs run as production runs them: the expiry sweep enqueues one message per index shard
and the worker sweeps each (fed as SQS batches); the reminders job runs once a day. What they
read is counted on the store's client: the items each Query, GetItem and BatchGetItem returned.
The members are written straight into the table (seeding.write_members: the services are too slow
in moto for 10,000).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import boto3

from infra.definitions import QUEUES, TABLE
from loyalty.config import settings
from loyalty.store.store import LoyaltyStore
from tests.bench.calls import NOW, in_process, snapshot
from tests.bench.environment import REGION
from tests.bench.seeding import PROGRAM_ID, write_members
from tests.helpers import context, handler, sqs_event
from tests.integration.conftest import PROGRAM

SWEEP_SIZES = (1_000, 10_000)
DUE = 100  # members holding a lot that expired before the sweep's now
SWEEP_TARGET = 1.05  # items the sweep reads per lot it expires
REMINDER_MEMBERS = 1_000
REMINDER_WINDOWS = (30, 7)  # days before expiry
# The tests' program with expiry reminders only (no welcome or birthday ones).
REMINDER_PROGRAM = {**PROGRAM, "reminders": {"expiring_days_before": list(REMINDER_WINDOWS)}}
REMINDED = 100  # members with a lot in each window
REMINDER_RUNS = 3  # on consecutive days
# Everyone else's lot expires this many days after now, in turn: 4 in 10 within 30 days (one of them
# later today, in the sweep's own day), the others later. None falls in a reminder window of the runs.
LATER_DAYS = (0.25, 1, 12, 20, 45, 90, 150, 210, 270, 364)
EXPIRY_QUEUE = next(queue for queue in QUEUES if queue.logical_id == "ExpiryQueue")


class ReadLog:
    """Every DynamoDB call of the store's client, and the items its reads returned.

    Hooked on `after-call`, which fires once per API call (not per retry) with the parsed response.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0

    def __call__(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        if model.name in ("Query", "Scan"):
            self.items += parsed.get("Count", 0)
        elif model.name == "GetItem":
            self.items += int("Item" in parsed)
        elif model.name == "BatchGetItem":
            self.items += sum(len(found) for found in parsed.get("Responses", {}).values())

    def take(self) -> Reads:
        reads = Reads(self.items, dict(self.calls))
        self.calls.clear()
        self.items = 0
        return reads


@dataclass
class Reads:
    items: int
    calls: dict[str, int]

    @property
    def scanned(self) -> bool:
        return "Scan" in self.calls

    def summary(self) -> str:
        return ", ".join(f"{name} {n}" for name, n in self.calls.items()) or "none"

    def to_json(self) -> dict[str, Any]:
        return {"items_read": self.items, "calls": self.calls, "scan_used": self.scanned}


@dataclass
class Sweep:
    members: int
    due: int
    expired: int  # "expire" entries in the due members' partitions
    reads: Reads  # the whole sweep: the starter and every worker batch

    @property
    def ratio(self) -> float | None:
        return self.reads.items / self.expired if self.expired else None

    @property
    def met(self) -> bool:
        return self.ratio is not None and self.ratio <= SWEEP_TARGET and self.expired == self.due

    def to_json(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "due_lots": self.due,
            "lots_expired": self.expired,
            **self.reads.to_json(),
            "items_read_per_lot_expired": self.ratio,
            "target_ratio": SWEEP_TARGET,
            "target_met": self.met,
        }


@dataclass
class ReminderRun:
    now: datetime
    sent: int
    reads: Reads

    def to_json(self) -> dict[str, Any]:
        per = self.reads.items / self.sent if self.sent else None
        return {
            "now": self.now.isoformat(),
            "reminders_sent": self.sent,
            **self.reads.to_json(),
            "items_read_per_reminder": per,
        }


@dataclass
class JobsResult:
    sweeps: list[Sweep]
    reminder_runs: list[ReminderRun]
    markers: int  # REMINDER# items in the members' partitions after the runs
    reminded_members: int
    sent_twice: int  # (member, window) pairs with more than one marker

    def to_json(self) -> dict[str, Any]:
        return {
            "expiry_sweep": [sweep.to_json() for sweep in self.sweeps],
            "reminders": {
                "members": REMINDER_MEMBERS,
                "windows_days": list(REMINDER_WINDOWS),
                "lots_per_window": REMINDED,
                "runs": [run.to_json() for run in self.reminder_runs],
                "reminder_items": self.markers,
                "members_reminded": self.reminded_members,
                "sent_twice": self.sent_twice,
            },
        }


def _expiries(members: int, due: dict[int, datetime]) -> list[datetime]:
    later = [NOW + timedelta(days=days) for days in LATER_DAYS]
    return [due.get(n, later[n % len(later)]) for n in range(members)]


@contextmanager
def _watched(client: Any) -> Iterator[ReadLog]:
    log = ReadLog()
    client.meta.events.register("after-call.dynamodb", log)
    try:
        yield log
    finally:
        client.meta.events.unregister("after-call.dynamodb", log)


def _items(member_ids: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every item under these members, read by a client the log does not watch."""
    observer = LoyaltyStore(TABLE.logical_id, client=boto3.client("dynamodb", region_name=REGION))
    for member_id in member_ids:
        for item in observer.member_items(PROGRAM_ID, member_id):
            yield member_id, item


@contextmanager
def _expiry_queue() -> Iterator[str]:
    """A queue for the sweep to fill, named in the settings as the deployed function's environment names it."""
    url = boto3.client("sqs", region_name=REGION).create_queue(QueueName=EXPIRY_QUEUE.logical_id)["QueueUrl"]
    try:
        with mock.patch.dict(os.environ, {"LOYALTY_EXPIRY_QUEUE_URL": url}):
            settings.cache_clear()
            yield url
    finally:
        settings.cache_clear()


def _drain(url: str) -> list[dict[str, Any]]:
    sqs, bodies = boto3.client("sqs", region_name=REGION), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(message["Body"]) for message in batch]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)]
        )
    return bodies


def _sweep(members: int) -> Sweep:
    # Members 0-99 hold a lot that expired 1 to 150 hours before now: within the days the sweep looks back over.
    due = {n: NOW - timedelta(hours=1 + 1.5 * n) for n in range(DUE)}
    with in_process() as (client, runtime), _expiry_queue() as url:
        member_ids = write_members(client, runtime.program(PROGRAM_ID), _expiries(members, due))
        with _watched(client) as log:
            handler("expiry_sweep")({"job": "expiry-sweep", "scheduled_time": NOW.isoformat()}, context("expiry_sweep"))
            messages = _drain(url)
            for start in range(0, len(messages), EXPIRY_QUEUE.batch_size):
                batch = sqs_event(messages[start : start + EXPIRY_QUEUE.batch_size], EXPIRY_QUEUE.logical_id)
                failed = handler("expiry_worker")(batch, context("expiry_worker"))["batchItemFailures"]
                if failed:
                    raise RuntimeError(f"the expiry worker failed {len(failed)} messages")
            reads = log.take()
        due_ids = [member_ids[n] for n in due]
        expired = sum(1 for _, item in _items(due_ids) if item.get("type") == "entry" and item["kind"] == "expire")
    return Sweep(members, len(due), expired, reads)


def _reminders() -> tuple[list[ReminderRun], Counter[tuple[str, str]]]:
    # Members 0-99 hold a lot expiring in 30 days, 100-199 in 7 days (spread over the hour before).
    due = {
        number * REMINDED + k: NOW + timedelta(days=window) - timedelta(seconds=30 * k)
        for number, window in enumerate(REMINDER_WINDOWS)
        for k in range(REMINDED)
    }
    runs = []
    with in_process(REMINDER_PROGRAM) as (client, runtime):
        write_members(client, runtime.program(PROGRAM_ID), _expiries(REMINDER_MEMBERS, due))
        with _watched(client) as log:
            for day in range(REMINDER_RUNS):
                now = NOW + timedelta(days=day)
                event = {"job": "reminders", "scheduled_time": now.isoformat()}
                summary = handler("reminders")(event, context("reminders"))
                runs.append(ReminderRun(now, summary["reminders"], log.take()))
        # SK REMINDER#expiring-<window>-<lot id>: one per member and window, or a reminder went twice.
        observer = boto3.client("dynamodb", region_name=REGION)
        markers = Counter((pk, sk.split("-")[1]) for pk, sk in snapshot(observer) if sk.startswith("REMINDER#"))
    return runs, markers


def measure_jobs() -> JobsResult:
    sweeps = [_sweep(members) for members in SWEEP_SIZES]
    runs, markers = _reminders()
    return JobsResult(
        sweeps=sweeps,
        reminder_runs=runs,
        markers=sum(markers.values()),
        reminded_members=len({member_id for member_id, _ in markers}),
        sent_twice=sum(1 for count in markers.values() if count > 1),
    )
