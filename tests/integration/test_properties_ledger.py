"""The ledger under any sequence of earns, redemptions, cancels, codes used, replays and clock jumps.

A Hypothesis state machine drives the real handlers (through API Gateway events) against moto, with
the clock the handlers read, and runs the expiry and activation sweeps as the scheduled workers do
whenever the clock jumps, and refunds orders (spent points become debt). After every step, for every
member: the sum of the ledger equals balance + pending - debt, balance + pending equals the sum of the
lots' remaining points, nothing is negative, and a member who owes points has none pending. Each answer is checked
against a small model of what users rely on: a new id applies once (201), the same id and payload
replays the first answer (200) and changes nothing, the same id with another payload is refused (409).

Two example tests at the end pin what the sums alone would not show: a sale older than the expiry period,
and a cancel long after the lot expired, leave no points in the balance once the next sweep ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, precondition, rule
from moto import mock_aws

from infra.definitions import TABLE
from infra.local.resources import table_spec
from infra.local.serialise import serialise_dynamodb
from loyalty.api.runtime import Runtime, use_runtime
from loyalty.services.programs import ProgramCache
from loyalty.services.schedule import days_back, sweep_messages, sweep_shard
from loyalty.store import keys
from loyalty.store.store import LoyaltyStore
from tests.helpers import Answer, Api, ledger_invariant
from tests.integration.conftest import Clock, enroll, order

P = "/v1/programs/prop"
MEMBERS = ("m0", "m1")
EXPIRY_DAYS = 20
PROGRAM = {
    "name": "Properties",
    "currency": "EUR",
    "earn_rate": {"points": 1, "per_amount": 1},
    "expiry": {"policy": "rolling", "days": EXPIRY_DAYS},
    "pending_days": 2,
    "tier_window_days": 365,
    "activity_points": {"newsletter": 50, "review": 25},
}
TIERS = {
    "bronze": {"name": "Bronze", "threshold": 0, "earn_multiplier": 1},
    "silver": {"name": "Silver", "threshold": 400, "earn_multiplier": 1.5, "expiry_days": 30},
}
REWARDS = {
    "coffee": {"name": "Coffee", "type": "product", "cost": 100},
    "limited": {"name": "Ten off", "type": "discount", "cost": 50, "stock": 4},
    "once": {"name": "Welcome gift", "type": "gift_card", "cost": 30, "limits": {"per_member": 1}},
    "deal": {"name": "Deal", "type": "product", "cost": 200, "tier_costs": {"silver": 120}},
}


@dataclass
class Redemption:
    member_id: str
    redemption_id: str
    code: str


def _error(answer: Answer) -> str:
    body = answer.body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return str(body["error"]["code"])


@cache
def _client() -> Any:
    """One client for every example (making one costs ~50 ms); each example's mock has a fresh table."""
    return boto3.client("dynamodb", region_name="us-east-1")


class LedgerMachine(RuleBasedStateMachine):
    redemptions = Bundle("redemptions")

    def __init__(self) -> None:
        super().__init__()
        serialise_dynamodb()
        self.mock = mock_aws()
        self.mock.start()
        self.client = _client()
        self.client.create_table(**table_spec(TABLE))
        self.store = LoyaltyStore(TABLE.logical_id, client=self.client)
        self.clock = Clock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
        use_runtime(Runtime(self.store, ProgramCache(ttl_seconds=5), self.clock))
        self.api = Api()
        assert self.api.put(P, PROGRAM).status == 201
        for tier_id, tier in TIERS.items():
            assert self.api.put(f"{P}/tiers/{tier_id}", tier).status == 201
        for reward_id, reward in REWARDS.items():
            assert self.api.put(f"{P}/rewards/{reward_id}", reward).status == 201
        for member_id in MEMBERS:
            body = {"member_id": member_id, "email": f"{member_id}@example.com"}
            assert self.api.post(f"{P}/members", body).status == 201
        self.shards = sorted({keys.expiry_shard("prop", member_id) for member_id in MEMBERS})
        self.swept = self.clock()
        # The model: the first accepted payload and answer of each id; what happened to each redemption.
        self.accepted: dict[tuple[str, ...], tuple[Any, Answer]] = {}
        self.status: dict[str, str] = {}
        self.consumed_by: dict[str, str] = {}
        self.touched = set(MEMBERS)  # whose ledger the last step may have changed

    def teardown(self) -> None:
        use_runtime(None)
        self.mock.stop()

    # ---------------------------------------------------------------- requests and the model

    def _keyed(self, key: tuple[str, ...], path: str, body: Any, headers: dict[str, str] | None = None) -> Answer:
        """A request that carries its own id: 201 once, 200 with the first answer for the same payload,
        409 idempotency_conflict for another payload under the same id."""
        self.touched.add(path.split("/members/")[1].split("/")[0])
        answer = self.api.post(path, body, headers=headers)
        first = self.accepted.get(key)
        if first is None:
            if answer.status == 201:
                self.accepted[key] = (body, answer)
            return answer
        if first[0] == body:
            assert answer.status == 200, (key, answer.status, answer.body)
            assert answer.body == first[1].body, (key, "a replay answered differently")
        else:
            assert (answer.status, _error(answer)) == (409, "idempotency_conflict"), (key, answer.body)
        return answer

    @rule(
        member_id=st.sampled_from(MEMBERS),
        order_no=st.integers(0, 5),
        amount=st.integers(1, 400),
        days_ago=st.integers(0, 3 * EXPIRY_DAYS),  # also sales whose points expired before they are recorded
    )
    def earn(self, member_id: str, order_no: int, amount: int, days_ago: int) -> None:
        occurred_at = (self.clock() - timedelta(days=days_ago)).isoformat()
        body = {"order_id": f"o{order_no}", "amount": amount, "currency": "EUR", "occurred_at": occurred_at}
        answer = self._keyed(("order", member_id, f"o{order_no}"), f"{P}/members/{member_id}/orders", body)
        assert answer.status in (200, 201, 409), answer.body

    @rule(
        member_id=st.sampled_from(MEMBERS),
        order_no=st.integers(0, 5),
        refund_no=st.integers(0, 2),
        amount=st.one_of(st.none(), st.integers(1, 200)),
    )
    def refund(self, member_id: str, order_no: int, refund_no: int, amount: int | None) -> None:
        """Part of an order (an amount) or the rest of it; spent points become debt."""
        refund_id = f"o{order_no}-r{refund_no}"  # a refund id names one order, so its path is in its key
        body = {"refund_id": refund_id, **({"amount": amount} if amount is not None else {})}
        new = ("refund", member_id, refund_id) not in self.accepted
        path = f"{P}/members/{member_id}/orders/o{order_no}/refunds"
        answer = self._keyed(("refund", member_id, refund_id), path, body)
        if new and answer.status != 201:
            # No such order yet, or nothing (or not that much) left to refund.
            assert (answer.status, _error(answer)) in ((404, "not_found"), (422, "validation_error")), answer.body

    @rule(
        member_id=st.sampled_from(MEMBERS),
        activity_no=st.integers(0, 3),
        kind=st.sampled_from(["newsletter", "review"]),
    )
    def activity(self, member_id: str, activity_no: int, kind: str) -> None:
        body = {"activity_id": f"a{activity_no}", "type": kind, "occurred_at": self.clock().isoformat()}
        answer = self._keyed(("activity", member_id, f"a{activity_no}"), f"{P}/members/{member_id}/activities", body)
        assert answer.status in (200, 201, 409), answer.body

    @rule(
        target=redemptions,
        member_id=st.sampled_from(MEMBERS),
        reward_id=st.sampled_from(sorted(REWARDS)),
        key_no=st.integers(0, 6),
        quantity=st.integers(1, 2),
    )
    def redeem(self, member_id: str, reward_id: str, key_no: int, quantity: int) -> Any:
        body = {"reward_id": reward_id, "quantity": quantity}
        key = ("redemption", member_id, f"k{key_no}")
        new = key not in self.accepted
        answer = self._keyed(key, f"{P}/members/{member_id}/redemptions", body, {"Idempotency-Key": f"k{key_no}"})
        if answer.status == 201:
            self.status[answer.body["redemption_id"]] = "issued"
            return Redemption(member_id, answer.body["redemption_id"], answer.body["code"])
        if new:
            assert answer.status in (409, 422), answer.body
            assert _error(answer) in ("insufficient_points", "limit_reached", "out_of_stock"), answer.body
        return multiple()

    @rule(redemption=redemptions)
    def cancel(self, redemption: Redemption) -> None:
        path = f"{P}/members/{redemption.member_id}/redemptions/{redemption.redemption_id}/cancel"
        was = self.status[redemption.redemption_id]
        answer = self._keyed(("cancel", redemption.member_id, redemption.redemption_id), path, None)
        if was == "consumed":
            assert (answer.status, _error(answer)) == (409, "invalid_state"), answer.body
        else:
            assert answer.status in (200, 201), answer.body
            self.status[redemption.redemption_id] = "cancelled"

    @rule(redemption=redemptions, till=st.sampled_from(["pos-1", "pos-2"]))
    def consume(self, redemption: Redemption, till: str) -> None:
        self.touched.add(redemption.member_id)
        answer = self.api.post(f"{P}/codes/{redemption.code}/consume", {"order_id": till})
        was, by = self.status[redemption.redemption_id], self.consumed_by.get(redemption.redemption_id)
        if was == "issued" or (was == "consumed" and by == till):
            assert answer.status == 200 and answer.body["redemption_id"] == redemption.redemption_id, answer.body
            self.status[redemption.redemption_id], self.consumed_by[redemption.redemption_id] = "consumed", till
        else:
            assert (answer.status, _error(answer)) == (409, "invalid_state"), answer.body

    @precondition(lambda self: bool(self.accepted))
    @rule(pick=st.integers(0, 10**6))
    def replay(self, pick: int) -> None:
        """Any request that was applied, sent again as it was: the first answer, and nothing changes."""
        key = sorted(self.accepted)[pick % len(self.accepted)]
        body, first = self.accepted[key]
        kind, member_id, source_id = key
        path = {
            "order": f"{P}/members/{member_id}/orders",
            "activity": f"{P}/members/{member_id}/activities",
            "redemption": f"{P}/members/{member_id}/redemptions",
            "cancel": f"{P}/members/{member_id}/redemptions/{source_id}/cancel",
            "refund": f"{P}/members/{member_id}/orders/{source_id.split('-')[0]}/refunds",
        }[kind]
        before = self.store.member_items("prop", member_id)
        answer = self._keyed(key, path, body, {"Idempotency-Key": source_id} if kind == "redemption" else None)
        assert answer.status == 200 and answer.body == first.body
        assert self.store.member_items("prop", member_id) == before, "a replay changed the member's items"

    @rule(days=st.integers(1, 8), hours=st.integers(0, 23))
    def time_passes(self, days: int, hours: int) -> None:
        """Jump the clock, then run what the hourly schedules would have run meanwhile."""
        now = self.clock.advance(days=days, hours=hours)
        self.touched.update(MEMBERS)
        # Every day since the last sweep (the hourly runs' own 7-day lookback adds nothing here: no day is missed).
        swept_days = days_back(now, (now.date() - self.swept.date()).days)
        for task in ("activate", "expire"):  # pending activation, then the expiry sweep
            for shard in self.shards:
                sweep_shard(self.store, task, shard, swept_days, now)
        self.swept = now

    @invariant()
    def every_ledger_adds_up(self) -> None:
        """After every step, for every member the step may have changed (the others' items are as they were)."""
        for member_id in sorted(self.touched):
            ledger_adds_up(self.client, member_id)
        self.touched.clear()


def ledger_adds_up(client: Any, member_id: str) -> None:
    """tests.helpers.ledger_invariant, reading only the attributes it sums: moto serialises whole ledger
    entries slowly (a third of the time), and this runs after every step."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {
        "TableName": TABLE.logical_id,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": keys.member_pk("prop", member_id)}},
        "ProjectionExpression": "SK, #type, points, remaining, lot_points, balance, pending, debt",
        "ExpressionAttributeNames": {"#type": "type"},
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**request)
        items += [{name: next(iter(value.values())) for name, value in item.items()} for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    (profile,) = [item for item in items if item["SK"] == keys.PROFILE]
    entries = [item for item in items if item.get("type") == "entry"]
    ledger = sum(int(item["points"]) for item in entries)
    lots = sum(int(item.get("remaining", 0)) for item in entries if "lot_points" in item)
    balance, pending, debt = int(profile["balance"]), int(profile["pending"]), int(profile.get("debt", 0))
    assert balance >= 0 and pending >= 0 and debt >= 0, (member_id, profile)
    assert all(int(item.get("remaining", 0)) >= 0 for item in entries), member_id
    # A refund's entry counts what became debt too; what paid the debt never reached a lot.
    assert ledger == balance + pending - debt, (member_id, {"ledger": ledger, "held": balance + pending, "debt": debt})
    assert balance + pending == lots, (member_id, {"held": balance + pending, "lots": lots})
    # A refund takes pending points before it adds debt, and every credit pays debt first.
    assert debt == 0 or pending == 0, (member_id, {"pending": pending, "debt": debt})


LedgerMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_the_ledger_adds_up_after_every_step = LedgerMachine.TestCase


# ---------------------------------------------------------------- what the machine leaves out, pinned


def _sweep(store: LoyaltyStore, member_id: str, now: datetime) -> None:
    """The expiry sweep as the scheduler runs it, for the shard that holds this member."""
    for message in sweep_messages("expiry-sweep", now):
        if message["shard"] == keys.expiry_shard("acme", member_id):
            sweep_shard(store, message["task"], message["shard"], message["days"], now)


def test_a_late_sale_past_its_expiry_does_not_inflate_the_balance(
    api: Api, program: str, store: LoyaltyStore, clock: Clock
) -> None:
    enroll(api, program, "m1")
    late = order("late", 100, (clock() - timedelta(days=400)).isoformat())
    assert api.post("/v1/programs/acme/members/m1/orders", late).status == 201
    _sweep(store, "m1", clock.advance(hours=1))

    member = api.get("/v1/programs/acme/members/m1").body
    spendable = [r for r in api.get("/v1/programs/acme/members/m1/rewards").body["rewards"] if r["available"]]
    assert (member["balance"], spendable) == (0, []), member
    # The order's history stays honest: earned, then expired by the sweep.
    ledger = api.get("/v1/programs/acme/members/m1/transactions").body
    assert sorted((t["kind"], t["points"]) for t in ledger["transactions"]) == [("earn", 100), ("expire", -100)]
    ledger_invariant(store, program, "m1")


def test_points_given_back_to_an_expired_lot_expire_at_the_next_sweep(
    api: Api, program: str, store: LoyaltyStore, clock: Clock
) -> None:
    enroll(api, program, "m1")
    assert api.post("/v1/programs/acme/members/m1/orders", order("o-1", 150, clock().isoformat())).status == 201
    redeemed = api.post(
        "/v1/programs/acme/members/m1/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k"}
    )
    _sweep(store, "m1", clock.advance(days=366))  # the 50 points left expire
    assert api.get("/v1/programs/acme/members/m1").body["balance"] == 0

    # More than the sweep's 7-day look-back after the lot expired (the hourly sweeps meanwhile find nothing).
    clock.advance(days=10)
    cancel = api.post(f"/v1/programs/acme/members/m1/redemptions/{redeemed.body['redemption_id']}/cancel")
    assert cancel.status == 201
    _sweep(store, "m1", clock.advance(hours=1))  # the next hourly sweep

    assert api.get("/v1/programs/acme/members/m1").body["balance"] == 0
    ledger = api.get("/v1/programs/acme/members/m1/transactions").body["transactions"]
    expired = sorted(t["points"] for t in ledger if t["kind"] == "expire")
    assert expired == [-100, -50], ledger  # the 50 left at expiry, then the 100 given back
    ledger_invariant(store, program, "m1")


def test_points_that_expire_before_they_become_available_expire_at_activation(
    api: Api, program: str, store: LoyaltyStore, clock: Clock
) -> None:
    """Pending for 30 days, expiring after 10: activation must not index the lot under its expiry day,
    which is three weeks behind by then."""
    settings = {**PROGRAM, "name": "Acme", "currency": "EUR", "pending_days": 30, "tier_window_days": 365}
    settings["expiry"] = {"policy": "rolling", "days": 10}
    assert api.put("/v1/programs/acme", settings).status == 200
    enroll(api, program, "m1")
    assert api.post("/v1/programs/acme/members/m1/orders", order("o-1", 100, clock().isoformat())).status == 201

    now = clock.advance(days=30, hours=1)
    for message in sweep_messages("pending-activation", now):
        if message["shard"] == keys.expiry_shard("acme", "m1"):
            sweep_shard(store, message["task"], message["shard"], message["days"], now)
    _sweep(store, "m1", clock.advance(hours=1))  # the next hourly expiry sweep

    member = api.get("/v1/programs/acme/members/m1").body
    assert (member["balance"], member["pending"]) == (0, 0), member
    ledger_invariant(store, program, "m1")
