"""Stand-in functions for the local stack's plumbing tests (LOYALTY_LOCAL_HANDLERS_MODULE=<this file>).

Each attribute named like a function in infra/definitions.py replaces that function. Every call is
appended to the JSON-lines file named by LOYALTY_FAKE_JOURNAL, so a test can see the events the
stack built.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from typing import Any

import boto3

_stream_attempts: Counter[str] = Counter()


def _journal(function: str, event: Any) -> None:
    path = os.environ.get("LOYALTY_FAKE_JOURNAL")
    if path:
        with open(path, "a") as journal:
            journal.write(json.dumps({"function": function, "event": event}) + "\n")


def _echo(function: str) -> Any:
    def handler(event: dict[str, Any], context: Any) -> Any:
        _journal(function, event)
        headers = event.get("headers") or {}
        if "X-Fake-Raise" in headers:
            raise RuntimeError("the fake was asked to fail")
        if "X-Fake-Bad" in headers:
            return "not a proxy response"
        if "X-Fake-Binary" in headers:
            return {
                "statusCode": 200,
                "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(b"\x00\x01\xfe\xff").decode(),
                "isBase64Encoded": True,
            }
        body = {
            "function": function,
            "event": event,
            "context": {
                "function_name": context.function_name,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "aws_request_id": context.aws_request_id,
                "remaining_ms": context.get_remaining_time_in_millis(),
            },
            "table": os.environ.get("LOYALTY_TABLE"),
        }
        return {
            "statusCode": 201 if event["httpMethod"] == "POST" else 200,
            "headers": {"Content-Type": "application/json", "X-Fake": function},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }

    return handler


docs = _echo("docs")
admin = _echo("admin")
enrollment = _echo("enrollment")
earn = _echo("earn")
redeem = _echo("redeem")


def ingest(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails every message whose body has "fail": true."""
    _journal("ingest", event)
    failures = [
        {"itemIdentifier": record["messageId"]} for record in event["Records"] if json.loads(record["body"]).get("fail")
    ]
    return {"batchItemFailures": failures}


def expiry_sweep(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Enqueues one message per shard, as the real sweep fans out."""
    _journal("expiry_sweep", event)
    sqs = boto3.client("sqs")
    for shard in (0, 1):
        body = {"shard": shard, "now": event["scheduled_time"], "execution_id": event["execution_id"]}
        sqs.send_message(QueueUrl=os.environ["LOYALTY_EXPIRY_QUEUE_URL"], MessageBody=json.dumps(body))
    return {"enqueued": 2, "scheduled_time": event["scheduled_time"]}


def expiry_worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Writes one item per message, so the stream carries the work on."""
    _journal("expiry_worker", event)
    dynamodb = boto3.client("dynamodb")
    for record in event["Records"]:
        body = json.loads(record["body"])
        dynamodb.put_item(
            TableName=os.environ["LOYALTY_TABLE"],
            Item={
                "PK": {"S": f"FAKE#expiry#{body['execution_id']}"},
                "SK": {"S": f"SHARD#{body['shard']}"},
                "now": {"S": body["now"]},
            },
        )
    return {"batchItemFailures": []}


def publisher(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Publishes every new image to the bus; an image with fail_times=N fails its first N deliveries."""
    _journal("publisher", event)
    events = boto3.client("events")
    for record in event["Records"]:
        image = record["dynamodb"].get("NewImage") or {}
        sequence = record["dynamodb"]["SequenceNumber"]
        if "fail_times" in image:
            _stream_attempts[sequence] += 1
            if _stream_attempts[sequence] <= int(image["fail_times"]["N"]):
                return {"batchItemFailures": [{"itemIdentifier": sequence}]}
        detail = {"pk": image.get("PK", {}).get("S"), "sk": image.get("SK", {}).get("S"), "sequence": sequence}
        events.put_events(
            Entries=[
                {
                    "EventBusName": os.environ["LOYALTY_EVENT_BUS"],
                    "Source": "loyalty",
                    "DetailType": "fake.published",
                    "Detail": json.dumps(detail),
                }
            ]
        )
    return {"batchItemFailures": []}


def reminders(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _journal("reminders", event)
    boto3.client("sqs").send_message(
        QueueUrl=os.environ["LOYALTY_NOTIFICATIONS_QUEUE_URL"],
        MessageBody=json.dumps({"kind": "reminder.welcome", "member_id": "alice", "now": event["scheduled_time"]}),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "reminder.welcome"}},
    )
    return {"sent": 1}


def notifier(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Delivers each message on every channel (the real one picks one), so all three show as delivered."""
    _journal("notifier", event)
    ses, sns, bus = boto3.client("ses"), boto3.client("sns"), boto3.client("events")
    for record in event["Records"]:
        body = json.loads(record["body"])
        text = f"{body['kind']} for {body['member_id']} at {body['now']}"
        ses.send_email(
            Source=os.environ["LOYALTY_EMAIL_FROM"],  # verified by the local stack at start
            Destination={"ToAddresses": [f"{body['member_id']}@example.com"]},
            Message={"Subject": {"Data": body["kind"]}, "Body": {"Text": {"Data": text}}},
        )
        sns.publish(PhoneNumber="+15555550100", Message=text)
        detail = {"member_id": body["member_id"], "title": body["kind"], "body": text}
        bus.put_events(
            Entries=[
                {
                    "EventBusName": os.environ["LOYALTY_EVENT_BUS"],
                    "Source": "loyalty",
                    "DetailType": "notification.push",
                    "Detail": json.dumps(detail),
                }
            ]
        )
    return {"batchItemFailures": []}


def tier_review(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _journal("tier_review", event)
    return {"reviewed": 0, "scheduled_time": event["scheduled_time"]}
