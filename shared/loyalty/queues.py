"""SQS sending for the jobs that fan work out (a lazily made, injectable client)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loyalty.aws import aws_client
from loyalty.errors import ValidationFailed

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SEND_BATCH = 10  # SendMessageBatch takes at most 10 messages


def sqs_client() -> SQSClient:
    client: SQSClient = aws_client("sqs")
    return client


def send_all(client: SQSClient, queue_url: str, bodies: list[dict[str, Any]]) -> int:
    """Send every body; raises if any is refused (the scheduler retries the whole job, which is idempotent)."""
    for start in range(0, len(bodies), SEND_BATCH):
        chunk = bodies[start : start + SEND_BATCH]
        answer = client.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "MessageBody": json.dumps(body, default=str)} for n, body in enumerate(chunk)],
        )
        if answer.get("Failed"):
            raise RuntimeError(f"{len(answer['Failed'])} messages were refused by {queue_url}")
    return len(bodies)


def scheduled_now(event: dict[str, Any]) -> datetime:
    """A job's logical now: the scheduled time EventBridge Scheduler put in its input."""
    value = event.get("scheduled_time")
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as error:
        raise ValidationFailed("scheduled_time is not an ISO 8601 time", value=value) from error
    if moment.tzinfo is None:
        raise ValidationFailed("scheduled_time needs an offset", value=value)
    return moment
