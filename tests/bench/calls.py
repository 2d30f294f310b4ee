"""Figure 1: the DynamoDB calls each operation makes, in-process against moto, with a warm config cache."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws

from infra.definitions import TABLE
from infra.local.resources import table_spec
from infra.local.serialise import serialise_dynamodb
from loyalty.api.runtime import Runtime, use_runtime
from loyalty.services.programs import ProgramCache
from loyalty.store.store import LoyaltyStore
from tests.bench import capacity
from tests.bench.environment import REGION
from tests.bench.seeding import PROGRAM_ID, REWARD_ID, expect, member_path, seed_program
from tests.helpers import Answer, Api
from tests.integration.conftest import PROGRAM, order

READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
MEMBER = "m-bench"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the tests' clock: orders dated 2026-11-20 are in the past


class CallLog:
    """Every DynamoDB API call the store's client makes, with its parameters.

    Hooked on `before-parameter-build`, which fires once per API call (not per retry) with the
    caller's parameters, so a TransactWriteItems shows its TransactItems.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, copy.deepcopy(params)))


@dataclass
class Operation:
    name: str
    calls: list[str]
    transact_items: int | None
    changed: int  # items added, changed or removed in the table
    capacity: dict[str, Any] | None
    target: str = ""
    met: bool | None = None

    def summary(self) -> str:
        return ", ".join(f"{name} {n}" for name, n in Counter(self.calls).items()) or "none"

    def count(self, names: set[str]) -> int:
        return sum(1 for call in self.calls if call in names)

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.name,
            "calls": dict(Counter(self.calls)),
            "call_count": len(self.calls),
            "transact_items": self.transact_items,
            "items_changed": self.changed,
            "write_units": self.capacity,
            "target": self.target,
            "target_met": self.met,
        }


def snapshot(observer: Any) -> dict[capacity.Key, capacity.Item]:
    """The whole (small) table, read by a client the log does not watch."""
    items: list[capacity.Item] = []
    start: dict[str, Any] | None = None
    while True:
        page = observer.scan(TableName=TABLE.logical_id, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return {capacity.item_key(item): item for item in items}


def _measure(
    name: str, action: Callable[[], Answer], status: int, log: CallLog, observer: Any
) -> tuple[Operation, Any]:
    before = snapshot(observer)
    log.calls.clear()
    answer = expect(action(), status)
    calls = list(log.calls)
    after = snapshot(observer)
    changed = sum(1 for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    transactions = [params["TransactItems"] for call, params in calls if call == "TransactWriteItems"]
    items = transactions[0] if len(transactions) == 1 else None
    operation = Operation(
        name=name,
        calls=[call for call, _ in calls],
        transact_items=len(items) if items is not None else None,
        changed=changed,
        capacity=capacity.estimate(items, before, after) if items is not None else None,
    )
    return operation, answer.body


def _judge(operation: Operation) -> None:
    """The issue's targets: one transaction and at most one read per write path; a replay is cheap and inert."""
    transactions, reads = operation.count({"TransactWriteItems"}), operation.count(READS)
    if operation.name in ("first earn", "redeem"):
        operation.target = "1 TransactWriteItems + <= 1 read"
        operation.met = transactions == 1 and reads <= 1 and len(operation.calls) == transactions + reads
    elif operation.name == "replayed earn":
        operation.target = "<= 2 calls, nothing written"
        operation.met = len(operation.calls) <= 2 and operation.changed == 0


@contextmanager
def in_process(program: dict[str, Any] = PROGRAM) -> Iterator[tuple[Any, Runtime]]:
    """A fresh moto account holding the table and the program 'acme', served by a runtime with a warm config."""
    serialise_dynamodb()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(**table_spec(TABLE))
        # A cache whose clock stands still never expires: every measured call sees a warm config.
        cache = ProgramCache(ttl_seconds=5, clock=lambda: 0.0)
        runtime = Runtime(LoyaltyStore(TABLE.logical_id, client=client), cache, lambda: NOW)
        use_runtime(runtime)
        try:
            seed_program(Api(), program)
            runtime.program(PROGRAM_ID)  # load the config once, before anything is counted
            yield client, runtime
        finally:
            use_runtime(None)


def measure_calls() -> list[Operation]:
    with in_process() as (client, _):
        observer = boto3.client("dynamodb", region_name=REGION)
        log = CallLog()
        client.meta.events.register("before-parameter-build.dynamodb", log)
        return _operations(Api(), log, observer)


def _operations(api: Api, log: CallLog, observer: Any) -> list[Operation]:
    path = member_path(MEMBER)
    earn = order("bench-order-1", "250.00")
    steps: list[tuple[str, Callable[[], Answer], int]] = [
        (
            "enroll",
            lambda: api.post(f"/v1/programs/{PROGRAM_ID}/members", {"member_id": MEMBER, "email": "bench@example.com"}),
            201,
        ),
        ("first earn", lambda: api.post(f"{path}/orders", earn), 201),
        ("replayed earn", lambda: api.post(f"{path}/orders", earn), 200),
        (
            "redeem",
            lambda: api.post(f"{path}/redemptions", {"reward_id": REWARD_ID}, headers={"Idempotency-Key": "bench-1"}),
            201,
        ),
    ]
    operations = []
    body: Any = None
    for name, action, status in steps:
        operation, body = _measure(name, action, status, log, observer)
        operations.append(operation)
    redemption_id = body["redemption_id"]
    for name, action, status in (
        ("cancel redemption", lambda: api.post(f"{path}/redemptions/{redemption_id}/cancel"), 201),
        ("GET member", lambda: api.get(path), 200),
    ):
        operations.append(_measure(name, action, status, log, observer)[0])
    for operation in operations:
        _judge(operation)
    return operations
