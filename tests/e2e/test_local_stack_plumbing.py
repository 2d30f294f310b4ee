"""The local stack's plumbing, proven with fake functions (tests/e2e/fakes/handlers.py).

Given a request, message, stream record or job, when the stack delivers it, then the function
gets the event AWS would build and its answer is honoured the way AWS honours it.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
import requests

from tests.helpers import eventually

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]

FAKES = Path(__file__).parent / "fakes" / "handlers.py"
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "Unauthorized", "details": {}}}


@pytest.fixture(scope="module")
def journal_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fakes") / "journal.jsonl"


@pytest.fixture(scope="module")
def fake_stack(start_local_stack: Callable[..., RunningStack], journal_path: Path) -> RunningStack:
    return start_local_stack(
        env={"LOYALTY_LOCAL_HANDLERS_MODULE": str(FAKES), "LOYALTY_FAKE_JOURNAL": str(journal_path)}
    )


def calls(journal_path: Path, function: str) -> list[dict[str, Any]]:
    if not journal_path.exists():
        return []
    entries = [json.loads(line) for line in journal_path.read_text().splitlines() if line]
    return [entry["event"] for entry in entries if entry["function"] == function]


def mint(stack: RunningStack, **overrides: Any) -> str:
    body: dict[str, Any] = {"member_id": "alice", "program_id": "demo", **overrides}
    response = requests.post(f"{stack.api}/_local/tokens", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


# --- the gateway: requests become REST proxy events --------------------------------------------


def test_a_route_becomes_a_rest_proxy_event_for_its_function(fake_stack: RunningStack) -> None:
    response = requests.get(
        f"{fake_stack.api}/v1/programs/p1/members/m1/transactions?limit=5&tag=a&tag=b",
        headers={"X-Trace": "t-1"},
        timeout=10,
    )

    assert response.status_code == 200
    answer = response.json()
    event = answer["event"]
    assert answer["function"] == "redeem"
    assert event["resource"] == "/v1/programs/{program_id}/members/{member_id}/transactions"
    assert event["path"] == "/v1/programs/p1/members/m1/transactions"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"program_id": "p1", "member_id": "m1"}
    assert event["queryStringParameters"] == {"limit": "5", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"limit": ["5"], "tag": ["a", "b"]}
    assert event["headers"]["X-Trace"] == "t-1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t-1"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    context = event["requestContext"]
    assert context["resourcePath"] == event["resource"]
    assert context["httpMethod"] == "GET"
    assert context["stage"] == "local"
    assert context["path"] == "/local/v1/programs/p1/members/m1/transactions"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userArn"] == "arn:aws:iam::123456789012:user/local-integration"
    assert context["identity"]["accessKey"] == "LOCAL"
    assert isinstance(context["requestTimeEpoch"], int)
    assert response.headers["x-amzn-RequestId"] == context["requestId"]
    assert answer["context"]["function_name"] == "redeem"
    assert answer["context"]["memory_limit_in_mb"] == 512
    assert answer["context"]["invoked_function_arn"].endswith(":function:redeem")
    assert 0 < answer["context"]["remaining_ms"] <= 10_000
    assert answer["table"] == "LoyaltyTable"
    # multiValueHeaders of the response arrive as repeated headers.
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert response.headers["X-Fake"] == "redeem"


def test_a_text_body_passes_as_text_and_a_binary_one_as_base64(fake_stack: RunningStack) -> None:
    order: dict[str, Any] = {
        "order_id": "o-1",
        "amount": 10,
        "currency": "EUR",
        "occurred_at": "2026-11-01T10:00:00+00:00",
    }
    text = requests.post(f"{fake_stack.api}/v1/programs/demo/members/alice/orders", json=order, timeout=10)
    binary = requests.post(f"{fake_stack.api}/v1/programs/demo/members/alice/orders", data=b"\xff\x00\xfe", timeout=10)

    assert text.status_code == 201
    assert text.json()["function"] == "earn"
    assert json.loads(text.json()["event"]["body"]) == order
    assert text.json()["event"]["isBase64Encoded"] is False
    assert binary.json()["event"]["isBase64Encoded"] is True
    assert base64.b64decode(binary.json()["event"]["body"]) == b"\xff\x00\xfe"


def test_a_base64_response_is_decoded(fake_stack: RunningStack) -> None:
    response = requests.get(f"{fake_stack.api}/v1/openapi.json", headers={"X-Fake-Binary": "1"}, timeout=10)

    assert response.status_code == 200
    assert response.content == b"\x00\x01\xfe\xff"
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_unknown_paths_and_methods_answer_404_and_405(fake_stack: RunningStack) -> None:
    missing = requests.get(f"{fake_stack.api}/v1/nothing/here", timeout=10)
    wrong_method = requests.delete(f"{fake_stack.api}/v1/programs/demo", timeout=10)

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert wrong_method.json()["error"]["details"] == {"allowed": ["GET", "PUT"]}


def test_a_refused_body_does_not_break_the_next_request_on_the_connection(fake_stack: RunningStack) -> None:
    with requests.Session() as session:
        refused = session.post(f"{fake_stack.api}/v1/nothing", data=b"x" * 50_000, timeout=10)
        next_one = session.get(f"{fake_stack.api}/_local/health", timeout=10)

    assert refused.status_code == 404
    assert next_one.json() == {"ok": True}


def test_bodies_over_one_mebibyte_are_refused_with_413(fake_stack: RunningStack) -> None:
    url = f"{fake_stack.api}/v1/programs/demo/members/alice/orders"
    too_large = requests.post(url, data=b"x" * (1024 * 1024 + 1), timeout=30)
    at_limit = requests.post(url, data=b"x" * (1024 * 1024), timeout=30)

    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "payload_too_large"
    assert at_limit.status_code == 201


@pytest.mark.parametrize("header", ["X-Fake-Raise", "X-Fake-Bad"])
def test_a_failing_function_answers_502(fake_stack: RunningStack, header: str) -> None:
    response = requests.get(f"{fake_stack.api}/v1/programs/demo", headers={header: "1"}, timeout=10)

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "internal_error"
    assert "Traceback" not in response.text


# --- auth ----------------------------------------------------------------------------------------


def test_an_iam_route_refuses_an_authorization_header(fake_stack: RunningStack) -> None:
    response = requests.get(
        f"{fake_stack.api}/v1/programs/demo", headers={"Authorization": f"Bearer {mint(fake_stack)}"}, timeout=10
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_member_token_reaches_the_function_as_cognito_claims(fake_stack: RunningStack) -> None:
    token = mint(fake_stack, member_id="m-7", program_id="p-3")

    response = requests.get(f"{fake_stack.api}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    assert response.status_code == 200
    context = response.json()["event"]["requestContext"]
    claims = context["authorizer"]["claims"]
    assert claims["sub"] == "m-7"
    assert claims["custom:member_id"] == "m-7"
    assert claims["custom:program_id"] == "p-3"
    assert claims["token_use"] == "id"
    assert all(isinstance(value, str) for value in claims.values())
    assert re.fullmatch(r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}", claims["exp"])  # as API Gateway formats it
    assert context["identity"]["userArn"] is None


def _forged_token() -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from infra.local.auth import AUDIENCE, ISSUER

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "sub": "alice",
        "custom:member_id": "alice",
        "custom:program_id": "demo",
        "token_use": "id",
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode(claims, key, algorithm="RS256")


def _unsigned_token() -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    from infra.local.auth import AUDIENCE, ISSUER

    claims = {"sub": "alice", "token_use": "id", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 600}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize("kind", ["missing", "expired", "forged", "unsigned", "garbage"])
def test_a_member_route_refuses_a_bad_token_with_a_generic_401(fake_stack: RunningStack, kind: str) -> None:
    tokens = {
        "missing": None,
        "expired": lambda: mint(fake_stack, expires_in=-60),
        "forged": _forged_token,
        "unsigned": _unsigned_token,
        "garbage": lambda: "not-a-jwt",
    }
    make = tokens[kind]
    headers = {"Authorization": f"Bearer {make()}"} if make else {}

    response = requests.get(f"{fake_stack.api}/v1/me/rewards", headers=headers, timeout=10)

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_minting_a_token_checks_its_input(fake_stack: RunningStack) -> None:
    url = f"{fake_stack.api}/_local/tokens"
    no_member = requests.post(url, json={"program_id": "demo"}, timeout=10)
    bad_lifetime = requests.post(url, json={"member_id": "a", "program_id": "demo", "expires_in": "1h"}, timeout=10)
    not_json = requests.post(url, data=b"{", timeout=10)

    assert no_member.status_code == 422 and no_member.json()["error"]["code"] == "validation_error"
    assert bad_lifetime.status_code == 422
    assert not_json.status_code == 400


def test_strict_auth_mode_needs_a_signed_marker_on_iam_routes() -> None:
    from werkzeug.test import Client

    from infra.local.auth import TokenIssuer
    from infra.local.gateway import Gateway
    from infra.local.invocation import FunctionRegistry

    client = Client(Gateway(FunctionRegistry("us-east-1", str(FAKES)), TokenIssuer(), auth_mode="aws"))

    anonymous = client.get("/v1/programs/demo")
    signed = client.get("/v1/programs/demo", headers={"X-Local-Iam": "signed"})

    assert anonymous.status_code == 403
    assert anonymous.json["error"]["code"] == "forbidden"  # type: ignore[index]
    assert signed.status_code == 200
    identity = signed.json["event"]["requestContext"]["identity"]  # type: ignore[index]
    assert identity["userArn"] == "arn:aws:iam::123456789012:user/local-integration"


# --- pollers -------------------------------------------------------------------------------------


def test_a_failing_message_reaches_the_dlq_while_the_rest_of_its_batch_is_deleted(
    fake_stack: RunningStack, journal_path: Path
) -> None:
    run = uuid.uuid4().hex
    sqs = fake_stack.client("sqs")
    queue_url = fake_stack.resource_url("IngestQueue")
    dlq_url = fake_stack.info["resources"]["queues"]["IngestQueue"]["dlq_url"]
    sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": "ok1", "MessageBody": json.dumps({"run": run, "n": 1})},
            {"Id": "bad", "MessageBody": json.dumps({"run": run, "n": 2, "fail": True})},
            {"Id": "ok2", "MessageBody": json.dumps({"run": run, "n": 3})},
        ],
    )

    def dead_letter() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        return [m for m in messages if json.loads(m["Body"])["run"] == run]

    dead = eventually(dead_letter, timeout_s=30)

    assert [json.loads(m["Body"])["n"] for m in dead] == [2]
    deliveries = [
        (json.loads(r["body"])["n"], int(r["attributes"]["ApproximateReceiveCount"]))
        for event in calls(journal_path, "ingest")
        for r in event["Records"]
        if json.loads(r["body"])["run"] == run
    ]
    assert sorted(n for n, _ in deliveries if n != 2) == [1, 3]  # each good one once, then deleted
    assert [count for n, count in deliveries if n == 2] == [1, 2, 3, 4, 5]  # maxReceiveCount, then the DLQ
    record = next(r for event in calls(journal_path, "ingest") for r in event["Records"])
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":IngestQueue")
    assert {"messageId", "receiptHandle", "body", "md5OfBody", "awsRegion", "messageAttributes"} <= set(record)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_the_stream_poller_delivers_records_and_retries_from_the_failed_one(
    fake_stack: RunningStack, journal_path: Path
) -> None:
    run = uuid.uuid4().hex
    dynamodb = fake_stack.client("dynamodb")

    def put(sk: str, **extra: Any) -> None:
        dynamodb.put_item(TableName="LoyaltyTable", Item={"PK": {"S": f"RUN#{run}"}, "SK": {"S": sk}, **extra})

    def published(last: str) -> Callable[[], list[str]]:
        def check() -> list[str]:
            events = requests.get(f"{fake_stack.api}/_local/events", timeout=10).json()["events"]
            sks = [e["detail"]["sk"] for e in events if e["detail"].get("pk") == f"RUN#{run}"]
            return sks if last in sks else []

        return check

    put("1-flaky", fail_times={"N": "1"})
    assert eventually(published("1-flaky")) == ["1-flaky"]
    put("2-poison", fail_times={"N": "99"})
    put("3-after")
    assert eventually(published("3-after")) == ["1-flaky", "3-after"]  # the poison record is skipped
    batches = [
        event["Records"]
        for event in calls(journal_path, "publisher")
        if event["Records"][0]["dynamodb"]["Keys"]["PK"]["S"] == f"RUN#{run}"
    ]

    def first_in_line(sk: str) -> list[dict[str, Any]]:
        return [records[0] for records in batches if records[0]["dynamodb"]["Keys"]["SK"]["S"] == sk]

    flaky = first_in_line("1-flaky")
    assert len(flaky) == 2  # failed once, then delivered again from its own sequence number
    assert len(first_in_line("2-poison")) == 4  # one delivery and three retries, then skipped
    record = flaky[0]
    assert record["eventName"] == "INSERT"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == fake_stack.info["resources"]["stream_arn"]
    assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert {"Keys", "NewImage", "SequenceNumber", "SizeBytes"} <= set(record["dynamodb"])


# --- jobs, notifications -------------------------------------------------------------------------


def test_a_job_runs_with_the_given_now_and_drains_what_it_set_in_motion(
    fake_stack: RunningStack, journal_path: Path
) -> None:
    response = requests.post(
        f"{fake_stack.api}/_local/jobs/expiry-sweep", json={"now": "2026-11-23T11:00:00+01:00"}, timeout=60
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["job"] == "expiry-sweep"
    assert answer["now"] == "2026-11-23T10:00:00Z"
    assert answer["result"] == {"enqueued": 2, "scheduled_time": "2026-11-23T10:00:00Z"}
    assert answer["drained"]["ExpiryQueue"] == 2
    assert answer["drained"]["stream"] >= 2
    assert answer["complete"] is True
    job_event = next(e for e in calls(journal_path, "expiry_sweep") if e["execution_id"] == answer["execution_id"])
    assert job_event == {
        "job": "expiry-sweep",
        "scheduled_time": "2026-11-23T10:00:00Z",
        "execution_id": answer["execution_id"],
    }
    # Drained means done: the worker's writes were already published when the job answered.
    events = requests.get(f"{fake_stack.api}/_local/events", timeout=10).json()["events"]
    pks = {e["detail"]["pk"] for e in events}
    assert f"FAKE#expiry#{answer['execution_id']}" in pks
    assert {"id", "detail-type", "source", "time", "detail"} <= set(events[-1])


def test_a_reminder_job_drains_into_the_notifier_and_its_deliveries_are_listed(fake_stack: RunningStack) -> None:
    response = requests.post(
        f"{fake_stack.api}/_local/jobs/reminders", json={"now": "2026-11-23T08:00:00Z"}, timeout=60
    )
    notifications = requests.get(f"{fake_stack.api}/_local/notifications", timeout=10).json()["notifications"]

    assert response.status_code == 200
    answer = response.json()
    assert answer["result"] == {"sent": 1}
    assert answer["drained"]["NotificationsQueue"] == 1  # the notifier consumed it before the job answered
    text = "reminder.welcome for alice at 2026-11-23T08:00:00Z"
    email = {"channel": "email", "to": "alice@example.com", "subject": "reminder.welcome", "body": text}
    assert email in notifications
    assert {"channel": "sms", "to": "+15555550100", "body": text} in notifications
    (push,) = [n for n in notifications if n["channel"] == "push" and n["body"] == text]
    assert push["to"] == "alice" and push["subject"] == "reminder.welcome" and push["at"]
    # Listing reads what was delivered: it takes nothing away.
    again = requests.get(f"{fake_stack.api}/_local/notifications", timeout=10).json()["notifications"]
    assert again == notifications


@pytest.mark.parametrize(
    ("job", "body", "status"),
    [
        ("no-such-job", {"now": "2026-11-23T08:00:00Z"}, 404),
        ("tier-review", {"now": "yesterday"}, 422),
        ("tier-review", {"now": "2026-11-23T08:00:00"}, 422),  # no offset: time must be explicit
        ("tier-review", {}, 422),
    ],
)
def test_a_job_request_is_checked(fake_stack: RunningStack, job: str, body: dict[str, Any], status: int) -> None:
    response = requests.post(f"{fake_stack.api}/_local/jobs/{job}", json=body, timeout=10)

    assert response.status_code == status
    assert response.json()["error"]["code"] == ("not_found" if status == 404 else "validation_error")


# --- lifecycle, state, samples -------------------------------------------------------------------


def test_a_state_file_keeps_the_table_across_a_clean_restart_without_replaying_events(
    start_local_stack: Callable[..., RunningStack], tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    env = {"LOYALTY_LOCAL_HANDLERS_MODULE": str(FAKES), "LOYALTY_STATE_FILE": str(state)}
    first = start_local_stack(env=env)
    first.client("dynamodb").put_item(
        TableName="LoyaltyTable", Item={"PK": {"S": "KEEP"}, "SK": {"S": "ME"}, "blob": {"B": b"\x00\xff"}}
    )

    assert first.stop() == 0
    assert state.exists()
    second = start_local_stack(env=env)
    dynamodb = second.client("dynamodb")
    item = dynamodb.get_item(TableName="LoyaltyTable", Key={"PK": {"S": "KEEP"}, "SK": {"S": "ME"}})
    dynamodb.put_item(TableName="LoyaltyTable", Item={"PK": {"S": "NEW"}, "SK": {"S": "AFTER-RESTART"}})

    def published() -> list[str]:
        events = requests.get(f"{second.api}/_local/events", timeout=10).json()["events"]
        pks = [e["detail"]["pk"] for e in events]
        return pks if "NEW" in pks else []

    assert item["Item"]["blob"]["B"] == b"\x00\xff"
    assert eventually(published) == ["NEW"]  # the restored item is not published a second time


def test_the_sample_events_match_the_routes() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "events" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_schedules_fire_on_their_eventbridge_cron() -> None:
    from infra.definitions import SCHEDULES
    from infra.local.scheduler import croniter_expression, next_fire

    by_name = {s.name: s for s in SCHEDULES}
    after = datetime(2026, 11, 23, 8, 15, tzinfo=UTC)

    assert next_fire(by_name["expiry-sweep"], after) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert next_fire(by_name["reminders"], after) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert next_fire(by_name["tier-review"], after) == datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
    assert croniter_expression("0 8 ? * 2-6 *") == "0 8 ? * 1-5 0 *"  # EventBridge MON-FRI is 2-6


def test_the_scheduler_fires_a_due_schedule_with_its_scheduled_instant() -> None:
    import threading
    from datetime import timedelta

    from infra.definitions import Schedule
    from infra.local.scheduler import Scheduler

    start = datetime(2026, 11, 23, 9, 59, 30, tzinfo=UTC)
    ticks = iter([start, *(start + timedelta(seconds=31 + n) for n in range(10))])
    stop = threading.Event()
    fired: list[tuple[str, datetime]] = []

    def fire(schedule: Schedule, scheduled_time: datetime) -> None:
        fired.append((schedule.name, scheduled_time))
        stop.set()

    hourly = Schedule("expiry-sweep", "expiry_sweep", "0 * * * ? *")
    Scheduler([hourly], fire, clock=lambda: next(ticks)).run(stop)

    assert fired == [("expiry-sweep", datetime(2026, 11, 23, 10, 0, tzinfo=UTC))]
