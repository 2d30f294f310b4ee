"""Figure 2: each function's cold path, as the wall time of a fresh process serving one event.

The emulator (a moto server) runs in this process; each child is a new interpreter that imports
one handler and serves one representative event against it. The ratio divides by a baseline child
that only imports boto3, makes a DynamoDB client and does one GetItem: what any Python function
that touches the table pays. Runs are interleaved so drift on the machine hits every case alike.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from infra.definitions import TABLE, function
from infra.local.emulator import start_emulator
from infra.local.resources import create_resources
from loyalty.api.runtime import Runtime, use_runtime
from loyalty.publishing import outbox_events
from loyalty.services.programs import ProgramCache
from loyalty.store import keys
from loyalty.store.store import LoyaltyStore
from tests.bench.environment import REGION, ROOT, child_environment
from tests.bench.imports import Imported, import_breakdown, top_level
from tests.bench.seeding import PROGRAM_ID, REWARD_ID, expect, member_path, proxy_event, seed_program
from tests.helpers import Api, sqs_event
from tests.integration.conftest import enroll, order

CHILD = Path(__file__).with_name("child.py")
MEMBER = "m-cold"
TARGET_RATIO = 1.5
Event = dict[str, Any]


@dataclass(frozen=True)
class Case:
    name: str
    target: str  # the handler's module, or "baseline"
    event: Callable[[str], Event]  # run tag -> the event (fresh ids, so every earn and redeem is a first one)
    ok: Callable[[Any], bool]


@dataclass(frozen=True)
class Sample:
    wall_ms: float  # process start to exit, measured here: the honest figure
    start_ms: float  # until the first line of the child script (interpreter start-up)
    import_ms: float  # the handler module (baseline: boto3 and its client)
    call_ms: float  # serving the event (lazy imports, client creation, the AWS calls)
    exit_ms: float  # interpreter shutdown (Lambda freezes a sandbox instead, so it never pays this)

    @property
    def served_ms(self) -> float:
        return self.wall_ms - self.exit_ms


def _module(name: str) -> str:
    return function(name).handler.rpartition(".")[0]


def _status(expected: int) -> Callable[[Any], bool]:
    return lambda answer: isinstance(answer, dict) and answer.get("statusCode") == expected


def _no_failures(answer: Any) -> bool:
    return answer == {"batchItemFailures": []}


def _recent() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")


def _cases(stream: Event) -> list[Case]:
    path = member_path(MEMBER)
    settings_key = {"PK": {"S": keys.program_pk(PROGRAM_ID)}, "SK": {"S": keys.SETTINGS_SK}}

    def ingest(tag: str) -> Event:
        message = {"type": "order", "program_id": PROGRAM_ID, "member_id": MEMBER, **order(f"q-{tag}", "12.50")}
        return sqs_event([{**message, "occurred_at": _recent()}])

    return [
        Case(
            "baseline",
            "baseline",
            lambda tag: {"TableName": TABLE.logical_id, "Key": settings_key, "ConsistentRead": True},
            lambda answer: answer == {"statusCode": 200, "found": True},
        ),
        Case(
            "enrollment",
            _module("enrollment"),
            lambda tag: proxy_event(
                "POST", f"/v1/programs/{PROGRAM_ID}/members", {"member_id": f"c-{tag}", "email": f"c-{tag}@example.com"}
            ),
            _status(201),
        ),
        Case(
            "earn",
            _module("earn"),
            lambda tag: proxy_event("POST", f"{path}/orders", order(f"o-{tag}", "12.50", occurred_at=_recent())),
            _status(201),
        ),
        Case(
            "redeem",
            _module("redeem"),
            lambda tag: proxy_event(
                "POST", f"{path}/redemptions", {"reward_id": REWARD_ID}, headers={"Idempotency-Key": f"r-{tag}"}
            ),
            _status(201),
        ),
        Case("admin", _module("admin"), lambda tag: proxy_event("GET", f"/v1/programs/{PROGRAM_ID}"), _status(200)),
        Case("ingest", _module("ingest"), ingest, _no_failures),
        Case("publisher", _module("publisher"), lambda tag: stream, _no_failures),
    ]


def _seed(endpoint: str) -> None:
    """The program, and a member rich enough for every redemption the runs make."""
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
    use_runtime(Runtime(LoyaltyStore(TABLE.logical_id, client=client), ProgramCache(ttl_seconds=5)))
    try:
        api = Api()
        seed_program(api)
        enroll(api, PROGRAM_ID, MEMBER)
        expect(api.post(f"{member_path(MEMBER)}/orders", order("seed", "100000", occurred_at=_recent())), 201)
    finally:
        use_runtime(None)


def _stream_event(endpoint: str, stream_arn: str) -> Event:
    """One real stream record of an earn (its entry carries a points.earned outbox event), as Lambda delivers it."""
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name=REGION)
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    record = next(r for r in records if r["dynamodb"]["Keys"]["SK"]["S"].startswith("TX#order#") and outbox_events(r))
    record = json.loads(json.dumps(record, default=_json_default))  # datetimes -> epoch seconds, as in Lambda
    return {"Records": [{**record, "eventSourceARN": stream_arn}]}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _launch(case: Case, tag: str, env: dict[str, str], folder: Path, flags: tuple[str, ...] = ()) -> tuple[Sample, str]:
    event_file = folder / f"{case.name}-{tag}.json"
    event_file.write_text(json.dumps(case.event(tag)), encoding="utf-8")
    # -P: the script's folder stays off sys.path, as /var/task holds only the bundle in Lambda.
    command = [sys.executable, *flags, "-P", str(CHILD), case.target, str(event_file)]
    begun = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    ended = time.perf_counter()
    if done.returncode != 0:
        raise RuntimeError(f"{case.name} cold start failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if not case.ok(report["answer"]):
        raise RuntimeError(f"{case.name} did not serve its event: {report['answer']}")
    sample = Sample(
        wall_ms=(ended - begun) * 1000,
        start_ms=(report["started"] - begun) * 1000,
        import_ms=(report["imported"] - report["started"]) * 1000,
        call_ms=(report["served"] - report["imported"]) * 1000,
        exit_ms=(ended - report["served"]) * 1000,
    )
    return sample, done.stderr


def _summary(samples: list[Sample], baseline: dict[str, Any] | None) -> dict[str, Any]:
    def median(field: str) -> float:
        return round(statistics.median(getattr(s, field) for s in samples), 1)

    summary: dict[str, Any] = {
        "wall_ms": median("wall_ms"),
        "min_ms": round(min(s.wall_ms for s in samples), 1),
        "max_ms": round(max(s.wall_ms for s in samples), 1),
        **{field: median(field) for field in ("start_ms", "import_ms", "call_ms", "exit_ms", "served_ms")},
        "runs": [round(s.wall_ms, 1) for s in samples],
    }
    if baseline is not None:
        # The target is judged on whole-process wall time; the ratio without the shutdown is context.
        summary["ratio"] = round(summary["wall_ms"] / baseline["wall_ms"], 2)
        summary["ratio_without_exit"] = round(summary["served_ms"] / baseline["served_ms"], 2)
        summary["target_met"] = summary["ratio"] <= TARGET_RATIO
    return summary


@dataclass
class ColdResult:
    cases: dict[str, dict[str, Any]]
    rounds: int
    earn_imports: list[Imported]  # `import functions.earn.handler` alone
    earn_cold_path: list[Imported]  # everything a whole earn cold start imports, top level


def measure_cold(rounds: int = 7, warmup: int = 1) -> ColdResult:
    emulator = start_emulator()
    try:
        resources = create_resources(emulator.endpoint, REGION)
        _seed(emulator.endpoint)
        cases = _cases(_stream_event(emulator.endpoint, resources.stream_arn))
        env = child_environment(emulator.endpoint)
        samples: dict[str, list[Sample]] = {case.name: [] for case in cases}
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            # The warm-up round fills the page cache; it is not counted. Each round starts one case
            # later, so no function always runs right after the same neighbour.
            for round_number in range(warmup + rounds):
                shift = round_number % len(cases)
                for case in cases[shift:] + cases[:shift]:
                    sample, _ = _launch(case, f"{round_number}", env, folder)
                    if round_number >= warmup:
                        samples[case.name].append(sample)
            earn = next(case for case in cases if case.name == "earn")
            _, stderr = _launch(earn, "importtime", env, folder, flags=("-X", "importtime"))
        baseline = _summary(samples["baseline"], None)
        figures = {"baseline": baseline}
        figures.update({name: _summary(found, baseline) for name, found in samples.items() if name != "baseline"})
        return ColdResult(figures, rounds, import_breakdown(_module("earn"), env), top_level(stderr))
    finally:
        emulator.stop()
