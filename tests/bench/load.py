"""Figure 5: a bounded run of mixed traffic against a freshly started local stack, then the ledger invariant.

The stack is `python -m infra.local` on free loopback ports, without the demo seed or schedules
(tests/e2e/conftest.py launch_stack). A program and MEMBERS members are set up through the API; then
THREADS client threads send, for DURATION_S seconds, ~20% enrollments, ~60% earns (orders; some replay
an earlier order id and must answer 200 with the first answer's body) and ~20% redemptions with an
Idempotency-Key (some replay an earlier key). Refusals the product promises (insufficient points, a reward
out of stock or at its limit) are counted apart from errors; any 5xx, any other 4xx and any failed request
is an error. At the end, read straight from the emulator's table (a Scan: fine in a benchmark), every
member's ledger must add up: sum of the ledger = balance + pending = sum of its lots' remaining points.

The local stack runs one handler invocation at a time (Powertools keeps the current request in a class
attribute), so the throughput is a regression figure for this machine, not the platform's capacity.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from infra.definitions import TABLE
from loyalty.store import keys
from loyalty.store.dynamo import from_item
from tests.bench.seeding import TIERS

PROGRAM_ID = "load"
PROGRAM: dict[str, Any] = {
    "name": "Load Rewards",
    "currency": "EUR",
    "earn_rate": {"points": 1, "per_amount": 1},
    "expiry": {"policy": "rolling", "days": 365},
}
# Coffee for anyone with the points; a mug in short stock and a voucher once per member: their refusals
# (out_of_stock, limit_reached) are answers the product promises, as is insufficient_points.
REWARDS: dict[str, dict[str, Any]] = {
    "coffee": {"name": "Coffee", "type": "product", "cost": 100},
    "mug": {"name": "Mug", "type": "product", "cost": 150, "stock": 40},
    "voucher": {"name": "Voucher", "type": "discount", "cost": 120, "limits": {"per_member": 1}},
}
REWARD_ODDS: tuple[tuple[str, float], ...] = (("coffee", 0.7), ("mug", 0.2), ("voucher", 0.1))
MEMBERS = 200
THREADS = 8
DURATION_S = 20.0
MIX: tuple[tuple[str, float], ...] = (("enroll", 0.2), ("earn", 0.6), ("redeem", 0.2))
REPLAY_SHARE = 0.1  # of earns and of redemptions: the same request again
EXPECTED_REFUSALS = {"insufficient_points", "out_of_stock", "limit_reached"}
TIMEOUT_S = 30.0


@dataclass
class Call:
    operation: str  # enroll, earn, earn replay, redeem, redeem replay
    status: int  # 0: no answer (connection error, timeout)
    ms: float
    code: str | None = None  # the error code of a 4xx/5xx, or why a 2xx was wrong

    @property
    def outcome(self) -> str:
        if self.code is None and 200 <= self.status < 300:
            return "ok"
        if 400 <= self.status < 500 and self.code in EXPECTED_REFUSALS:
            return "refused"
        return "error"


@dataclass
class Invariant:
    members: int
    entries: int
    violations: list[str]
    enrolled: int  # members the API said it enrolled
    profiles: int  # member profiles in the table


@dataclass
class LoadResult:
    setup_s: float
    duration_s: float
    calls: list[Call]
    invariant: Invariant
    stack_exit: int | None
    threads: int = THREADS

    @property
    def throughput(self) -> float:
        return len(self.calls) / self.duration_s

    def by_operation(self) -> dict[str, list[Call]]:
        grouped: dict[str, list[Call]] = defaultdict(list)
        for call in self.calls:
            grouped[call.operation].append(call)
        return dict(sorted(grouped.items()))

    def errors(self) -> Counter[str]:
        return Counter(f"{c.status or 'no answer'} {c.code or ''}".strip() for c in self.calls if c.outcome == "error")

    def refusals(self) -> Counter[str]:
        return Counter(f"{c.status} {c.code}" for c in self.calls if c.outcome == "refused")

    def to_json(self) -> dict[str, Any]:
        operations = {}
        for name, calls in self.by_operation().items():
            latencies = sorted(call.ms for call in calls)
            outcomes = Counter(call.outcome for call in calls)
            operations[name] = {
                "requests": len(calls),
                "p50_ms": round(percentile(latencies, 50), 1),
                "p99_ms": round(percentile(latencies, 99), 1),
                "ok": outcomes["ok"],
                "refused": outcomes["refused"],
                "errors": outcomes["error"],
            }
        return {
            "threads": self.threads,
            "duration_s": round(self.duration_s, 1),
            "setup_s": round(self.setup_s, 1),
            "requests": len(self.calls),
            "throughput_rps": round(self.throughput, 1),
            "operations": operations,
            "refusals": dict(self.refusals()),
            "errors": dict(self.errors()),
            "invariant": {
                "members": self.invariant.members,
                "entries": self.invariant.entries,
                "violations": self.invariant.violations,
                "members_enrolled_by_api": self.invariant.enrolled,
                "member_profiles_in_table": self.invariant.profiles,
                "holds": not self.invariant.violations and self.invariant.enrolled == self.invariant.profiles,
            },
            "stack_exit_code": self.stack_exit,
            "note": "the local stack runs one handler at a time: a regression figure, not capacity",
        }


def percentile(ordered: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


class Traffic:
    """What the client threads share: the members enrolled, the orders and redemptions sent, the calls made."""

    def __init__(self, api: str) -> None:
        self.base = f"{api}/v1/programs/{PROGRAM_ID}"
        self.members: list[str] = []
        self.orders: list[tuple[str, dict[str, Any], Any]] = []  # member, body, first answer
        self.redemptions: list[tuple[str, dict[str, Any], str]] = []  # member, body, Idempotency-Key
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def pick(self, rng: random.Random, pool: list[Any]) -> Any:
        with self._lock:
            return rng.choice(pool) if pool else None

    def keep(self, pool: list[Any], value: Any) -> None:
        with self._lock:
            pool.append(value)

    def send(
        self, session: requests.Session, operation: str, method: str, path: str, body: Any, **headers: str
    ) -> tuple[Call, Any]:
        begun = time.perf_counter()
        try:
            answer = session.request(method, self.base + path, json=body, headers=headers, timeout=TIMEOUT_S)
        except requests.RequestException as error:
            call = Call(operation, 0, (time.perf_counter() - begun) * 1000, type(error).__name__)
            self.keep(self.calls, call)
            return call, None
        ms = (time.perf_counter() - begun) * 1000
        try:
            payload = answer.json()
        except ValueError:
            payload = None
        code = None
        if answer.status_code >= 400:
            shape = payload.get("error") if isinstance(payload, dict) else None
            code = shape.get("code") if isinstance(shape, dict) else "not the error shape"
        call = Call(operation, answer.status_code, ms, code)
        self.keep(self.calls, call)
        return call, payload


def _expect(answer: requests.Response, status: int) -> None:
    if answer.status_code != status:
        raise RuntimeError(f"setup: expected HTTP {status}, got {answer.status_code}: {answer.text[:500]}")


def _set_up(api: str, traffic: Traffic) -> None:
    session = requests.Session()
    base = traffic.base
    _expect(session.put(base, json=PROGRAM, timeout=TIMEOUT_S), 201)
    for tier_id, threshold, multiplier in TIERS:
        tier: dict[str, Any] = {"name": tier_id.title(), "threshold": threshold, "earn_multiplier": multiplier}
        _expect(session.put(f"{base}/tiers/{tier_id}", json=tier, timeout=TIMEOUT_S), 201)
    for reward_id, reward in REWARDS.items():
        _expect(session.put(f"{base}/rewards/{reward_id}", json=reward, timeout=TIMEOUT_S), 201)
    for n in range(MEMBERS):
        member_id = f"member-{n:03d}"
        member = {"member_id": member_id, "email": f"{member_id}@example.com"}
        _expect(session.post(f"{base}/members", json=member, timeout=TIMEOUT_S), 201)
        traffic.members.append(member_id)


def _client(traffic: Traffic, thread: int, deadline: float) -> None:
    rng = random.Random(thread)
    session = requests.Session()
    operations, odds = [name for name, _ in MIX], [share for _, share in MIX]
    rewards, reward_odds = [name for name, _ in REWARD_ODDS], [share for _, share in REWARD_ODDS]
    n = 0
    while time.monotonic() < deadline:
        n += 1
        (operation,) = rng.choices(operations, weights=odds)
        if operation == "enroll":
            member_id = f"t{thread}-{n}"
            body: dict[str, Any] = {"member_id": member_id, "email": f"{member_id}@example.com"}
            call, _ = traffic.send(session, "enroll", "POST", "/members", body)
            if call.outcome == "ok":
                traffic.keep(traffic.members, member_id)
        elif operation == "earn":
            earlier = traffic.pick(rng, traffic.orders) if rng.random() < REPLAY_SHARE else None
            if earlier is not None:
                member_id, body, first = earlier
                call, answer = traffic.send(session, "earn replay", "POST", f"/members/{member_id}/orders", body)
                if call.status == 200 and answer != first:
                    call.code = "replay answered differently"
                elif call.status == 201:
                    call.code = "replay credited again"
                continue
            member_id = traffic.pick(rng, traffic.members)
            order = {
                "order_id": f"o-{thread}-{n}",
                "amount": rng.randint(50, 400),
                "currency": "EUR",
                "occurred_at": datetime.now(UTC).isoformat(),
            }
            call, answer = traffic.send(session, "earn", "POST", f"/members/{member_id}/orders", order)
            if call.outcome == "ok":
                traffic.keep(traffic.orders, (member_id, order, answer))
        else:
            earlier = traffic.pick(rng, traffic.redemptions) if rng.random() < REPLAY_SHARE else None
            if earlier is not None:
                member_id, body, key = earlier
                path = f"/members/{member_id}/redemptions"
                call, _ = traffic.send(session, "redeem replay", "POST", path, body, **{"Idempotency-Key": key})
                if call.status == 201:
                    call.code = "replay redeemed again"
                continue
            member_id = traffic.pick(rng, traffic.members)
            (reward_id,) = rng.choices(rewards, weights=reward_odds)
            body = {"reward_id": reward_id}
            key = uuid.uuid4().hex
            path = f"/members/{member_id}/redemptions"
            call, _ = traffic.send(session, "redeem", "POST", path, body, **{"Idempotency-Key": key})
            if call.outcome == "ok":
                traffic.keep(traffic.redemptions, (member_id, body, key))


def check_ledgers(dynamodb: Any, enrolled: int) -> Invariant:
    """Every member of the program: sum of ledger entries = balance + pending = sum of lots' remaining."""
    prefix = keys.member_pk(PROGRAM_ID, "")
    profiles: dict[str, dict[str, Any]] = {}
    ledger: Counter[str] = Counter()
    remaining: Counter[str] = Counter()
    entries = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName=TABLE.logical_id):
        for raw in page["Items"]:
            item = from_item(raw)
            if not item["PK"].startswith(prefix):
                continue
            if item["SK"] == keys.PROFILE:
                profiles[item["PK"]] = item
            elif item.get("type") == "entry":
                entries += 1
                ledger[item["PK"]] += int(item["points"])
                if "lot_points" in item:
                    remaining[item["PK"]] += int(item["remaining"])
    violations = []
    for pk in sorted(profiles.keys() | ledger.keys()):
        profile = profiles.get(pk)
        if profile is None:
            violations.append(f"{pk}: ledger entries without a profile")
            continue
        held = int(profile.get("balance", 0)) + int(profile.get("pending", 0))
        if not ledger[pk] == held == remaining[pk]:
            violations.append(f"{pk}: ledger {ledger[pk]}, balance + pending {held}, lots {remaining[pk]}")
    return Invariant(len(profiles), entries, violations, enrolled, len(profiles))


def measure_load() -> LoadResult:
    from tests.e2e.conftest import launch_stack

    with tempfile.TemporaryDirectory(prefix="bench-load-") as workdir:
        stack = launch_stack(Path(workdir), {"LOYALTY_SEED": "0", "LOYALTY_SCHEDULES": "0"})
        try:
            traffic = Traffic(stack.api)
            begun = time.perf_counter()
            _set_up(stack.api, traffic)
            setup_s = time.perf_counter() - begun
            begun = time.perf_counter()
            deadline = time.monotonic() + DURATION_S
            with ThreadPoolExecutor(THREADS, thread_name_prefix="load") as pool:
                for future in [pool.submit(_client, traffic, thread, deadline) for thread in range(THREADS)]:
                    future.result()
            duration_s = time.perf_counter() - begun
            invariant = check_ledgers(stack.client("dynamodb"), len(traffic.members))
        finally:
            exit_code = stack.stop()
    return LoadResult(setup_s, duration_s, traffic.calls, invariant, exit_code)
