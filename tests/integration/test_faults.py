"""Faults (issue 8: proof under stress): DynamoDB throttling, internal errors, transaction conflicts and
timeouts injected into every write path, a publisher that fails between the write and the bus, and
SQS redelivering a processed batch.

What users rely on (PRODUCT.md, behaviour 1 and 5): a fault answers 503 with `Retry-After` and the JSON
error shape (or the product's own bounded retries absorb it), nothing is half-written, and retrying the
same request gives exactly one effect, also when the write went through and only the answer was lost.

Faults are botocore hooks on the store's client: `before-call` answers for DynamoDB (the call never
reaches the emulator: what the caller sees once the SDK's own retries are spent), `after-call` raises
once the emulator applied the call (the answer was lost), and `before-send` sits below the SDK's retries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError

from loyalty.api.runtime import Runtime, use_runtime
from loyalty.aws import _CONFIG as AWS_CLIENT_CONFIG
from loyalty.publishing import outbox_events
from loyalty.services.programs import ProgramCache
from loyalty.store import keys
from loyalty.store.store import LoyaltyStore
from tests.helpers import Answer, Api, handler, ledger_invariant, sqs_event
from tests.integration.conftest import PROGRAM, Bus, Clock, Stream, enroll, order

P = "/v1/programs/acme"
TABLE = "LoyaltyTable"
WRITES = frozenset({"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
READS = frozenset({"GetItem", "Query", "BatchGetItem"})


# ---------------------------------------------------------------- fault injection


@dataclass(frozen=True)
class Fault:
    """What DynamoDB (or the network) answers instead of a result."""

    name: str
    code: str | None = None  # a ClientError code; None: a read timeout
    status: int = 400
    cancellation_at: int | None = None  # TransactionCanceledException: the item that conflicted

    def error(self, params: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
        parsed: dict[str, Any] = {
            "Error": {"Code": self.code, "Message": f"injected {self.name}"},
            "ResponseMetadata": {"HTTPStatusCode": self.status, "RetryAttempts": 2},
        }
        if self.cancellation_at is not None:
            actions = len(json.loads(params["body"])["TransactItems"])
            parsed["CancellationReasons"] = [
                {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                if position == self.cancellation_at
                else {"Code": "None"}
                for position in range(actions)
            ]
        return AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", self.status, HTTPHeaders(), None), parsed


THROTTLED = Fault("throughput exceeded", "ProvisionedThroughputExceededException")
FAULTS = [
    THROTTLED,
    Fault("throttled", "ThrottlingException"),
    Fault("internal error", "InternalServerError", status=500),
    Fault("conflict with a transaction", "TransactionConflictException"),
    Fault("read timeout"),
]


def conflict_at(position: int) -> Fault:
    return Fault(f"transaction conflict on item {position}", "TransactionCanceledException", 400, position)


def _timeout() -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")


@dataclass
class Armed:
    fault: Fault
    operations: frozenset[str]
    nth: int  # the nth matching call fails (1 = the first)
    after: bool  # fail after the emulator applied the call
    seen: int = 0
    fired: int = 0
    actions: list[int] = field(default_factory=list)  # TransactItems per matching call


class Faults:
    """Botocore hooks on one client; `arm` makes the nth matching call of the next request fail."""

    def __init__(self, client: Any) -> None:
        self.armed: Armed | None = None
        client.meta.events.register_first("before-call.dynamodb", self._before_call)
        client.meta.events.register_first("after-call.dynamodb", self._after_call)

    def arm(self, fault: Fault, operations: frozenset[str] = WRITES, nth: int = 1, after: bool = False) -> Armed:
        self.armed = Armed(fault, operations, nth, after)
        return self.armed

    def disarm(self) -> Armed | None:
        armed, self.armed = self.armed, None
        return armed

    def _due(self, model: Any, after: bool) -> bool:
        armed = self.armed
        if armed is None or armed.after != after or model.name not in armed.operations:
            return False
        armed.seen += 1
        return armed.seen == armed.nth

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        armed = self.armed
        if armed is not None and model.name == "TransactWriteItems" and model.name in armed.operations:
            armed.actions.append(len(json.loads(params["body"])["TransactItems"]))
        if not self._due(model, after=False):
            return None
        assert armed is not None
        if armed.fault.cancellation_at is not None and armed.fault.cancellation_at >= armed.actions[-1]:
            return None  # the transaction has fewer items than that: let it through
        armed.fired += 1
        if armed.fault.code is None:
            raise _timeout()
        return armed.fault.error(params)

    def _after_call(self, model: Any, **_: Any) -> None:
        if self._due(model, after=True):
            assert self.armed is not None
            self.armed.fired += 1
            raise _timeout()


@pytest.fixture
def faults(dynamodb: Any) -> Faults:
    return Faults(dynamodb)


def table_items(client: Any) -> list[str]:
    """Every item of the table, comparable (a Scan is fine in a test)."""
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=TABLE):
        items += page["Items"]
    return sorted(json.dumps(item, sort_keys=True) for item in items)


# ---------------------------------------------------------------- the write paths


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, api: Api) -> Answer:
        return api.call(self.method, self.path, self.body, headers=self.headers)


@dataclass(frozen=True)
class Scenario:
    """A write path: `prepare` seeds what it needs (ids made unique by `tag`) and returns the request;
    `check` asserts the request took effect exactly once; `keyed` requests carry their own id, so
    a replay must write nothing at all."""

    name: str
    prepare: Callable[[Api, str], Request]
    check: Callable[[Api, LoyaltyStore, Any, str], None]
    keyed: bool = True
    transactional: bool = True
    applied: int = 201  # the status of the request's first application


def _entries(store: LoyaltyStore, member_id: str, sk_prefix: str) -> list[dict[str, Any]]:
    return [item for item in store.member_items("acme", member_id) if item["SK"].startswith(sk_prefix)]


def _markers(client: Any, email: str) -> int:
    key = {"PK": {"S": keys.identity_pk("acme", "email", email)}, "SK": {"S": keys.IDENTITY_SK}}
    return 1 if "Item" in client.get_item(TableName=TABLE, Key=key) else 0


def _counter_units(client: Any, reward_id: str) -> int:
    """Units redeemed of a reward, over every shard of its counter (found through the key module)."""
    found = 0
    for shard in range(16):
        key = {name: {"S": value} for name, value in keys.reward_counter_key("acme", reward_id, shard).items()}
        item = client.get_item(TableName=TABLE, Key=key).get("Item", {})
        found += int(item.get("redeemed", {"N": "0"})["N"])
    return found


def _with_points(api: Api, member_id: str, points: int = 250) -> None:
    enroll(api, "acme", member_id)
    assert api.post(f"{P}/members/{member_id}/orders", order(f"seed-{member_id}", points)).status == 201


def _limited(api: Api, tag: str) -> str:
    """A reward with stock, so a redemption also writes its counter (one per tag: counters stay apart)."""
    reward = {"name": "Ten off", "type": "discount", "cost": 80, "stock": 50}
    assert api.put(f"{P}/rewards/limited{tag}", reward).status == 201
    return f"limited{tag}"


def _redeemed(api: Api, member_id: str, tag: str) -> dict[str, Any]:
    _with_points(api, member_id)
    body = {"reward_id": _limited(api, tag)}
    answer = api.post(f"{P}/members/{member_id}/redemptions", body, headers={"Idempotency-Key": "r"})
    assert answer.status == 201, answer.body
    return answer.body


def _prepare_put_program(api: Api, tag: str) -> Request:
    return Request("PUT", f"/v1/programs/other{tag}", {**PROGRAM, "name": f"Other {tag}"})


def _check_put_program(api: Api, store: LoyaltyStore, client: Any, tag: str) -> None:
    assert api.get(f"/v1/programs/other{tag}").body["name"] == f"Other {tag}"
    assert store.program_ids().count(f"other{tag}") == 1


def _check_tier(api: Api, store: LoyaltyStore, client: Any, tag: str) -> None:
    assert api.get(P).body["tiers"][f"platinum{tag}"]["threshold"] == 5000


def _check_reward(api: Api, store: LoyaltyStore, client: Any, tag: str) -> None:
    assert api.get(P).body["rewards"][f"tea{tag}"]["cost"] == 40


def _prepare_enroll(api: Api, tag: str) -> Request:
    return Request("POST", f"{P}/members", {"member_id": f"new{tag}", "email": f"new{tag}@example.com"})


def _check_enroll(api: Api, store: LoyaltyStore, client: Any, tag: str) -> None:
    assert api.get(f"{P}/members/new{tag}").body["email"] == f"new{tag}@example.com"
    assert _markers(client, f"new{tag}@example.com") == 1
    ledger_invariant(store, "acme", f"new{tag}")


def _prepare_patch(api: Api, tag: str) -> Request:
    enroll(api, "acme", f"p{tag}")
    return Request("PATCH", f"{P}/members/p{tag}", {"email": f"moved{tag}@example.com", "first_name": "Ann"})


def _check_patch(api: Api, store: LoyaltyStore, client: Any, tag: str) -> None:
    member = api.get(f"{P}/members/p{tag}").body
    assert (member["email"], member["first_name"]) == (f"moved{tag}@example.com", "Ann")
    assert (_markers(client, f"moved{tag}@example.com"), _markers(client, f"p{tag}@example.com")) == (1, 0)


def _prepare_erase(api: Api, tag: str) -> Request:
    enroll(api, "acme", f"e{tag}")
    return Request("DELETE", f"{P}/members/e{tag}")


def _check_erase(api: Api, store: LoyaltyStore, client: Any, tag: str) -> None:
    member = api.get(f"{P}/members/e{tag}").body
    assert member["status"] == "erased" and member["email"] is None
    assert _markers(client, f"e{tag}@example.com") == 0


def _prepare_order(api: Api, tag: str) -> Request:
    enroll(api, "acme", f"o{tag}")
    return Request("POST", f"{P}/members/o{tag}/orders", order("o-1", 250))


def _check_order(api: Api, store: LoyaltyStore, client: Any, tag: str) -> None:
    assert len(_entries(store, f"o{tag}", "TX#order#o-1")) == 1
    assert ledger_invariant(store, "acme", f"o{tag}")["balance"] == 250


def _prepare_activity(api: Api, tag: str) -> Request:
    enroll(api, "acme", f"a{tag}")
    body = {"activity_id": "a-1", "type": "newsletter", "occurred_at": "2026-11-20T10:00:00+00:00"}
    return Request("POST", f"{P}/members/a{tag}/activities", body)


def _check_activity(api: Api, store: LoyaltyStore, client: Any, tag: str) -> None:
    assert len(_entries(store, f"a{tag}", "TX#activity#a-1")) == 1
    assert ledger_invariant(store, "acme", f"a{tag}")["balance"] == 50


def _prepare_redeem(api: Api, tag: str) -> Request:
    _with_points(api, f"r{tag}")
    body = {"reward_id": _limited(api, tag)}
    return Request("POST", f"{P}/members/r{tag}/redemptions", body, {"Idempotency-Key": "k-1"})


def _check_redeem(api: Api, store: LoyaltyStore, client: Any, tag: str) -> None:
    assert len(_entries(store, f"r{tag}", "TX#redemption#")) == 1
    assert ledger_invariant(store, "acme", f"r{tag}")["balance"] == 250 - 80
    assert _counter_units(client, f"limited{tag}") == 1


def _prepare_cancel(api: Api, tag: str) -> Request:
    redeemed = _redeemed(api, f"c{tag}", tag)
    return Request("POST", f"{P}/members/c{tag}/redemptions/{redeemed['redemption_id']}/cancel")


def _check_cancel(api: Api, store: LoyaltyStore, client: Any, tag: str) -> None:
    assert len(_entries(store, f"c{tag}", "TX#cancel#")) == 1
    assert ledger_invariant(store, "acme", f"c{tag}")["balance"] == 250
    assert _counter_units(client, f"limited{tag}") == 0


def _prepare_consume(api: Api, tag: str) -> Request:
    redeemed = _redeemed(api, f"u{tag}", tag)
    return Request("POST", f"{P}/codes/{redeemed['code']}/consume", {"order_id": "pos-1"})


def _check_consume(api: Api, store: LoyaltyStore, client: Any, tag: str) -> None:
    (redemption,) = _entries(store, f"u{tag}", "TX#redemption#")
    assert (redemption["status"], redemption["consumed_order_id"]) == ("consumed", "pos-1")


SCENARIOS = [
    Scenario("put program", _prepare_put_program, _check_put_program, keyed=False),
    Scenario(
        "put tier",
        lambda api, tag: Request("PUT", f"{P}/tiers/platinum{tag}", {"name": "Platinum", "threshold": 5000}),
        _check_tier,
        keyed=False,
        transactional=False,
    ),
    Scenario(
        "put reward",
        lambda api, tag: Request("PUT", f"{P}/rewards/tea{tag}", {"name": "Tea", "type": "product", "cost": 40}),
        _check_reward,
        keyed=False,
        transactional=False,
    ),
    Scenario("enroll", _prepare_enroll, _check_enroll),
    Scenario("patch", _prepare_patch, _check_patch, keyed=False, applied=200),
    Scenario("erase", _prepare_erase, _check_erase, applied=200),
    Scenario("earn order", _prepare_order, _check_order),
    Scenario("earn activity", _prepare_activity, _check_activity),
    Scenario("redeem", _prepare_redeem, _check_redeem),
    Scenario("cancel", _prepare_cancel, _check_cancel),
    Scenario("consume", _prepare_consume, _check_consume, transactional=False, applied=200),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


def assert_unavailable(answer: Answer) -> None:
    assert answer.status == 503, (answer.status, answer.body)
    assert int(answer.headers["Retry-After"]) >= 1, answer.headers
    assert set(answer.body) == {"error"} and set(answer.body["error"]) == {"code", "message", "details"}
    assert answer.body["error"]["code"] == "service_unavailable", answer.body


def assert_one_effect(
    scenario: Scenario, api: Api, store: LoyaltyStore, dynamodb: Any, request: Request, expected: int
) -> None:
    """The request made again answers `expected` and took effect once; then a replay of a keyed request
    answers 200 with the same body and writes nothing."""
    again = request.send(api)
    assert again.status == expected, (again.status, again.body)
    scenario.check(api, store, dynamodb, "")
    settled = table_items(dynamodb)
    replay = request.send(api)
    assert replay.status == 200, (replay.status, replay.body)
    scenario.check(api, store, dynamodb, "")
    if scenario.keyed:
        assert table_items(dynamodb) == settled, "a replay wrote something"
        assert replay.body == again.body, "a replay answered differently"


# ---------------------------------------------------------------- tests: one write path at a time


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_fault_on_the_write_answers_503_writes_nothing_and_a_retry_applies_once(
    scenario: Scenario, fault: Fault, program: str, api: Api, store: LoyaltyStore, dynamodb: Any, faults: Faults
) -> None:
    request = scenario.prepare(api, "")
    before = table_items(dynamodb)

    faults.arm(fault)
    answer = request.send(api)
    armed = faults.disarm()

    assert armed is not None and armed.fired == 1
    assert_unavailable(answer)
    assert table_items(dynamodb) == before, "a failed request left something behind"
    assert_one_effect(scenario, api, store, dynamodb, request, scenario.applied)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_fault_on_any_later_write_of_a_request_leaves_nothing_half_written(
    scenario: Scenario, program: str, api: Api, store: LoyaltyStore, dynamodb: Any, faults: Faults
) -> None:
    """One state change, one write: a request that writes twice can fail between the two."""
    request = scenario.prepare(api, "")
    before = table_items(dynamodb)
    for nth in range(2, 6):
        faults.arm(THROTTLED, nth=nth)
        answer = request.send(api)
        armed = faults.disarm()
        assert armed is not None
        if not armed.fired:
            break  # the request made fewer writes than that and went through
        assert_unavailable(answer)
        assert table_items(dynamodb) == before, f"write {nth} failed and left the earlier ones behind"
    scenario.check(api, store, dynamodb, "")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_timeout_after_the_write_applied_then_the_clients_retry_gives_one_effect(
    scenario: Scenario, program: str, api: Api, store: LoyaltyStore, dynamodb: Any, faults: Faults
) -> None:
    request = scenario.prepare(api, "")
    before = table_items(dynamodb)

    faults.arm(Fault("read timeout"), after=True)
    answer = request.send(api)
    armed = faults.disarm()

    assert armed is not None and armed.fired == 1
    assert_unavailable(answer)
    assert table_items(dynamodb) != before  # it did go through: only the answer was lost
    assert_one_effect(scenario, api, store, dynamodb, request, 200)


CONFLICT_SCENARIOS = [s for s in SCENARIOS if s.transactional]


@pytest.mark.parametrize("scenario", CONFLICT_SCENARIOS, ids=lambda s: s.name)
def test_a_transaction_conflict_on_any_item_is_retried_or_answers_503(
    scenario: Scenario, program: str, api: Api, store: LoyaltyStore, dynamodb: Any, faults: Faults
) -> None:
    """TransactionCanceledException with CancellationReasons [.., TransactionConflict, ..]: nothing was
    written and nothing is wrong with the request, so never a 4xx. Each item of the transaction in turn."""
    wrong = []
    for position in range(8):
        tag = f"-{position}"
        request = scenario.prepare(api, tag)
        before = table_items(dynamodb)
        armed = faults.arm(conflict_at(position), operations=frozenset({"TransactWriteItems"}))
        answer = request.send(api)
        faults.disarm()
        if not armed.fired:
            break  # the transaction has fewer items
        if answer.status == 503:
            assert_unavailable(answer)
            assert table_items(dynamodb) == before
            answer = request.send(api)
        if answer.status not in (200, 201):
            wrong.append((position, armed.actions[0], answer.status, answer.body))
            continue
        scenario.check(api, store, dynamodb, tag)
    assert position > 0, "no transaction was made"
    assert wrong == [], wrong


@pytest.mark.parametrize(
    "scenario", [BY_NAME[n] for n in ("earn order", "redeem", "cancel", "consume")], ids=lambda s: s.name
)
def test_a_throttled_read_answers_503_and_writes_nothing(
    scenario: Scenario, program: str, api: Api, store: LoyaltyStore, dynamodb: Any, faults: Faults
) -> None:
    request = scenario.prepare(api, "")
    before = table_items(dynamodb)
    faults.arm(THROTTLED, operations=READS)
    answer = request.send(api)
    assert faults.disarm() is not None
    assert_unavailable(answer)
    assert table_items(dynamodb) == before
    assert_one_effect(scenario, api, store, dynamodb, request, scenario.applied)


# ---------------------------------------------------------------- below the SDK's own retries


@pytest.fixture
def production_client(aws: None, dynamodb: Any, clock: Clock) -> Iterator[tuple[Api, LoyaltyStore, Any]]:
    """A store on a client configured as the functions' (standard retries, 3 attempts, short timeouts)."""
    client = boto3.client("dynamodb", region_name="us-east-1", config=Config(**AWS_CLIENT_CONFIG["dynamodb"]))
    store = LoyaltyStore(TABLE, client=client)
    use_runtime(Runtime(store, ProgramCache(ttl_seconds=5), clock))
    api = Api()
    assert api.put(P, PROGRAM).status == 201
    enroll(api, "acme", "m1")
    yield api, store, client
    use_runtime(None)


def test_the_sdk_retries_a_timeout_before_the_request_reached_dynamodb(
    production_client: tuple[Api, LoyaltyStore, Any],
) -> None:
    api, store, client = production_client
    attempts: list[str] = []

    def lost_on_the_way(request: Any, **_: Any) -> None:
        attempts.append("sent")
        if len(attempts) == 1:
            raise _timeout()

    # First in line: the emulator (itself a before-send hook) never sees the first attempt.
    client.meta.events.register_first("before-send.dynamodb.TransactWriteItems", lost_on_the_way)
    answer = api.post(f"{P}/members/m1/orders", order("o-1", 120))

    assert (answer.status, len(attempts)) == (201, 2)
    assert len(_entries(store, "m1", "TX#order#o-1")) == 1
    assert ledger_invariant(store, "acme", "m1")["balance"] == 120


def test_the_sdk_retries_a_timeout_after_dynamodb_applied_the_write_and_the_answer_is_the_first(
    production_client: tuple[Api, LoyaltyStore, Any], dynamodb: Any
) -> None:
    """DynamoDB wrote, the answer was lost, the SDK sent the transaction again: in AWS its client token
    makes the retry succeed; moto has no tokens and cancels it on the entry's own condition, and the
    product answers with the entry it finds. Either way: the first result, and one ledger entry."""
    api, store, client = production_client
    applied_when_lost: list[bool] = []
    entry_key = {"PK": {"S": keys.member_pk("acme", "m1")}, "SK": {"S": keys.entry_sk("order", "o-1")}}

    def answer_lost(request: Any, **_: Any) -> None:
        if not request.headers.get("X-Amz-Target", b"").endswith(b".TransactWriteItems"):
            return
        if not applied_when_lost:
            applied_when_lost.append("Item" in dynamodb.get_item(TableName=TABLE, Key=entry_key))
            raise _timeout()
        applied_when_lost.append(True)

    # On the emulator's own event, after it: handlers of a more specific name would run before it.
    client.meta.events.register("before-send", answer_lost)
    answer = api.post(f"{P}/members/m1/orders", order("o-1", 120))
    replay = api.post(f"{P}/members/m1/orders", order("o-1", 120))

    assert applied_when_lost[:2] == [True, True], "the first attempt was applied, then the SDK tried again"
    assert answer.status == 200 and answer.body["points"] == 120  # moto: the retry found the entry
    assert replay.status == 200 and replay.body == answer.body
    assert len(_entries(store, "m1", "TX#order#o-1")) == 1
    assert ledger_invariant(store, "acme", "m1")["balance"] == 120


# ---------------------------------------------------------------- between the write and the bus


class FlakyBus:
    """Passes PutEvents through to the bus, except call `fail_call`, whose entries all (or one) fail."""

    def __init__(self, events: Any, fail_call: int, only_first_entry: bool = False) -> None:
        self.events, self.fail_call, self.only_first_entry, self.calls = events, fail_call, only_first_entry, 0

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        if self.calls != self.fail_call:
            return dict(self.events.put_events(Entries=Entries))
        failing = Entries[:1] if self.only_first_entry else Entries
        passed = self.events.put_events(Entries=Entries[len(failing) :]) if len(failing) < len(Entries) else {}
        refused = [{"ErrorCode": "InternalFailure", "ErrorMessage": "injected"} for _ in failing]
        return {"FailedEntryCount": len(failing), "Entries": refused + list(passed.get("Entries", []))}


def _redeliver(records: list[dict[str, Any]], result: dict[str, Any]) -> list[dict[str, Any]]:
    """What the stream event source mapping sends next: the batch again from the reported record on."""
    (failure,) = result["batchItemFailures"]
    sequence = [r["dynamodb"]["SequenceNumber"] for r in records].index(failure["itemIdentifier"])
    return records[sequence:]


def _member_flow(api: Api) -> None:
    enroll(api, "acme", "m1")
    assert api.post(f"{P}/members/m1/orders", order("o-1", 600)).status == 201  # earns and reaches silver
    redeemed = api.post(f"{P}/members/m1/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k"})
    assert api.post(f"{P}/members/m1/redemptions/{redeemed.body['redemption_id']}/cancel").status == 201


@pytest.mark.parametrize("fail_call", [1, 2, 3, 4], ids=lambda n: f"put {n} fails")
def test_a_publish_that_fails_is_reported_and_the_redelivered_batch_publishes_each_event_once(
    fail_call: int, api: Api, program: str, dynamodb: Any, bus: Bus
) -> None:
    _member_flow(api)
    records = Stream(dynamodb).records()
    expected = [event["event_id"] for record in records for event in outbox_events(record)]

    first = handler("publisher")({"Records": records}, None, client=FlakyBus(bus.events, fail_call))
    second = handler("publisher")({"Records": _redeliver(records, first)}, None, client=bus.events)

    assert second == {"batchItemFailures": []}
    published = [event["detail"]["event_id"] for event in bus.received()]
    assert sorted(published) == sorted(expected), "each outbox event exactly once on the bus"
    assert len(expected) == 6


def test_a_publish_that_fails_in_part_loses_nothing_and_repeats_only_what_consumers_deduplicate(
    api: Api, program: str, dynamodb: Any, bus: Bus
) -> None:
    """PutEvents can refuse some entries of a call: the record is redelivered whole, so the entries that
    did land come again (the product promises at least once, deduplicated on event_id)."""
    _member_flow(api)
    records = Stream(dynamodb).records()
    expected = {event["event_id"] for record in records for event in outbox_events(record)}

    first = handler("publisher")({"Records": records}, None, client=FlakyBus(bus.events, 3, only_first_entry=True))
    handler("publisher")({"Records": _redeliver(records, first)}, None, client=bus.events)

    published = [event["detail"]["event_id"] for event in bus.received()]
    assert set(published) == expected
    duplicated = {event_id for event_id in published if published.count(event_id) > 1}
    assert len(duplicated) <= 1, duplicated  # at most the entries that landed in the failed call


def test_a_request_whose_answer_was_lost_publishes_its_events_once_and_its_retry_none(
    program: str, api: Api, dynamodb: Any, faults: Faults, bus: Bus
) -> None:
    enroll(api, "acme", "m1")
    faults.arm(Fault("read timeout"), after=True)
    assert api.post(f"{P}/members/m1/orders", order("o-1", 120)).status == 503
    faults.disarm()
    assert api.post(f"{P}/members/m1/orders", order("o-1", 120)).status == 200

    assert handler("publisher")({"Records": Stream(dynamodb).records()}, None, client=bus.events) == {
        "batchItemFailures": []
    }

    earned = [e for e in bus.received() if e["detail-type"] == "points.earned"]
    assert len(earned) == 1 and earned[0]["detail"]["points"] == 120


# ---------------------------------------------------------------- queue redelivery


def test_sqs_redelivering_a_processed_ingest_batch_changes_nothing(
    api: Api, program: str, store: LoyaltyStore, dynamodb: Any, clock: Clock
) -> None:
    enroll(api, program, "m1")
    occurred = (clock() - timedelta(days=1)).isoformat()
    event = sqs_event(
        [
            {"type": "order", "program_id": program, "member_id": "m1", **order(f"q-{n}", 10 + n, occurred)}
            for n in range(5)
        ]
    )
    assert handler("ingest")(event, None) == {"batchItemFailures": []}
    settled = table_items(dynamodb)

    for delivery in range(2, 5):  # the visibility timeout ran out before the delete, three times
        clock.advance(minutes=5)
        for record in event["Records"]:
            record["attributes"]["ApproximateReceiveCount"] = str(delivery)
        assert handler("ingest")(event, None) == {"batchItemFailures": []}

    assert table_items(dynamodb) == settled
    assert ledger_invariant(store, program, "m1")["balance"] == sum(10 + n for n in range(5))


def test_an_activity_from_the_ingest_queue_is_credited_once(
    api: Api, program: str, store: LoyaltyStore, clock: Clock
) -> None:
    enroll(api, program, "m1")
    occurred = (clock() - timedelta(days=1)).isoformat()
    shapes = [
        {"activity_id": "nl-1", "occurred_at": occurred, "activity_type": "newsletter"},
        {"activity_id": "nl-1", "occurred_at": occurred, "activity_type": "newsletter"},  # redelivered
        {"activity_id": "nl-2", "occurred_at": occurred},  # no activity_type: fails alone
    ]
    event = sqs_event([{"type": "activity", "program_id": program, "member_id": "m1", **shape} for shape in shapes])
    failures = handler("ingest")(event, None)["batchItemFailures"]
    assert [f["itemIdentifier"] for f in failures] == [event["Records"][2]["messageId"]]
    assert ledger_invariant(store, program, "m1")["balance"] == 50
