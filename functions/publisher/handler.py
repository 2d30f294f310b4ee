"""Publishes outbox events from the table's stream to the EventBridge bus.

Events are written in the same transaction as the change they describe; this function
turns them into bus events, and puts reminders on the notifications queue too. It is at
least once: consumers deduplicate on `event_id`.
"""

from __future__ import annotations

from typing import Any

from loyalty.config import settings
from loyalty.logs import logger
from loyalty.publishing import bus_entries, events_client, outbox_events, publish
from loyalty.queues import send_all, sqs_client


def lambda_handler(event: dict[str, Any], context: Any, client: Any = None, queue_client: Any = None) -> dict[str, Any]:
    config = settings()
    for record in event.get("Records", []):
        events = outbox_events(record)
        if not events:
            continue
        reminders = [e for e in events if e["type"].startswith("reminder.")]
        try:
            failed = publish(client or events_client(), bus_entries(events, config.event_bus_name))
            if reminders and not failed and config.notifications_queue_url:
                send_all(queue_client or sqs_client(), config.notifications_queue_url, reminders)
        except Exception:
            logger().exception("publishing failed", extra={"sequence": record["dynamodb"].get("SequenceNumber")})
            failed = 1
        if failed:
            # Stream batches are ordered: report the first failure, Lambda retries from there.
            return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
    return {"batchItemFailures": []}
