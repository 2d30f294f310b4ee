"""Handlers in-process against moto, with its DynamoDB backend serialised as DynamoDB is atomic."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.definitions import TABLE
from infra.local.resources import table_spec
from infra.local.serialise import serialise_dynamodb
from loyalty.api.runtime import Runtime, use_runtime
from loyalty.errors import LoyaltyError
from loyalty.models import OrderRequest, RedemptionRequest
from loyalty.services import earning, redemption
from loyalty.services.programs import ProgramCache
from loyalty.store.store import LoyaltyStore
from tests.helpers import Answer, Api

PROGRAM = {
    "name": "Acme Rewards",
    "currency": "EUR",
    "earn_rate": {"points": 1, "per_amount": 1},
    "rounding": "floor",
    "expiry": {"policy": "rolling", "days": 365},
    "pending_days": 0,
    "tier_window_days": 365,
    "reminders": {"expiring_days_before": [30, 7], "welcome_days_after": [5], "birthday": True},
    "activity_points": {"newsletter": 50, "review": 25},
}


class Clock:
    """The 'now' of every handler call; tests move it."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))


@pytest.fixture
def aws() -> Iterator[None]:
    serialise_dynamodb()
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**table_spec(TABLE))
    return client


@pytest.fixture
def store(dynamodb: Any) -> LoyaltyStore:
    return LoyaltyStore(TABLE.logical_id, client=dynamodb)


@pytest.fixture
def runtime(store: LoyaltyStore, clock: Clock) -> Iterator[Runtime]:
    rt = Runtime(store, ProgramCache(ttl_seconds=5), clock)
    use_runtime(rt)
    yield rt
    use_runtime(None)


@pytest.fixture
def api(runtime: Runtime) -> Api:
    return Api()


@pytest.fixture
def program(api: Api) -> str:
    """The program 'acme' with bronze/silver/gold tiers and two rewards."""
    assert api.put("/v1/programs/acme", PROGRAM).status == 201
    for tier_id, threshold, multiplier in (("bronze", 0, 1), ("silver", 500, 1.5), ("gold", 2000, 2)):
        answer = api.put(
            f"/v1/programs/acme/tiers/{tier_id}",
            {"name": tier_id.title(), "threshold": threshold, "earn_multiplier": multiplier},
        )
        assert answer.status == 201, answer.body
    assert api.put("/v1/programs/acme/rewards/coffee", {"name": "Coffee", "type": "product", "cost": 100}).status == 201
    return "acme"


def order(
    order_id: str, amount: float | str, occurred_at: str = "2026-11-20T10:00:00+00:00", **extra: Any
) -> dict[str, Any]:
    return {"order_id": order_id, "amount": amount, "currency": "EUR", "occurred_at": occurred_at, **extra}


def enroll(api: Api, program_id: str, member_id: str, **extra: Any) -> dict[str, Any]:
    answer = api.post(
        f"/v1/programs/{program_id}/members", {"member_id": member_id, "email": f"{member_id}@example.com", **extra}
    )
    assert answer.status == 201, answer.body
    return answer.body


# ---------------------------------------------------------------- requests without the HTTP shell
# Concurrency tests run one thread per request through the services the handlers call: a Lambda
# container serves one request at a time and Powertools keeps the current request in a class
# attribute, so threads must not share one resolver.


def served(call: Callable[[], tuple[dict[str, Any], bool]]) -> Answer:
    """A service call answered as its handler answers it: 201 created, 200 replayed, or the error."""
    try:
        result, created = call()
    except LoyaltyError as error:
        return Answer(error.status, error.to_body())
    return Answer(201 if created else 200, result)


def earn_directly(runtime: Runtime, member_id: str, body: dict[str, Any]) -> Answer:
    """What POST /v1/programs/acme/members/{member_id}/orders does."""
    request = OrderRequest.model_validate(body)
    return served(
        lambda: earning.earn_for_order(runtime.store, runtime.program("acme"), member_id, request, runtime.now())
    )


def redeem_directly(runtime: Runtime, member_id: str, reward_id: str, key: str) -> Answer:
    """What POST /v1/programs/acme/members/{member_id}/redemptions does with that Idempotency-Key."""
    request = RedemptionRequest(reward_id=reward_id)
    return served(
        lambda: redemption.redeem(runtime.store, runtime.program("acme"), member_id, request, key, runtime.now())
    )


# ---------------------------------------------------------------- the stream and the bus


class Stream:
    """The table's stream read in order from where the last read stopped, as an event source mapping does."""

    def __init__(self, dynamodb: Any, batch: int = 100) -> None:
        self.client = boto3.client("dynamodbstreams", region_name="us-east-1")
        self.arn = dynamodb.describe_table(TableName=TABLE.logical_id)["Table"]["LatestStreamArn"]
        self.batch = batch
        shard = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]
        self.iterator = self.client.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def batches(self) -> list[dict[str, Any]]:
        """Every record not read yet, as Lambda stream events of at most `batch` records."""
        events: list[dict[str, Any]] = []
        while True:
            page = self.client.get_records(ShardIterator=self.iterator, Limit=self.batch)
            self.iterator = page["NextShardIterator"]
            if not page["Records"]:
                return events
            events.append({"Records": [{**r, "eventSourceARN": self.arn} for r in page["Records"]]})

    def records(self) -> list[dict[str, Any]]:
        """Every record not read yet, in order."""
        return [record for event in self.batches() for record in event["Records"]]


@dataclass
class Bus:
    """The bus with a tap queue that receives every event (what `GET /_local/events` reads locally)."""

    events: Any
    sqs: Any
    tap: str

    def received(self) -> list[dict[str, Any]]:
        found = []
        while batch := self.sqs.receive_message(QueueUrl=self.tap, MaxNumberOfMessages=10).get("Messages", []):
            found += [json.loads(m["Body"]) for m in batch]
            self.sqs.delete_message_batch(
                QueueUrl=self.tap,
                Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
            )
        return found


@pytest.fixture
def bus(aws: None) -> Bus:
    events, sqs = boto3.client("events", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
    events.create_event_bus(Name="loyalty")
    tap = sqs.create_queue(QueueName="tap")["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName="loyalty", EventPattern=json.dumps({"source": ["loyalty"]}))
    events.put_targets(Rule="all", EventBusName="loyalty", Targets=[{"Id": "tap", "Arn": tap_arn}])
    return Bus(events, sqs, tap)
