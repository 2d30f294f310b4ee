"""Publishes outbox events from the table's stream to the EventBridge bus.

Events are written in the same transaction as the change they describe; this function
turns them into bus events. It is at least once: consumers deduplicate on `event_id`.
"""

from __future__ import annotations

from typing import Any

from loyalty.config import settings
from loyalty.logs import logger
from loyalty.publishing import bus_entries, events_client, outbox_events, publish


def lambda_handler(event: dict[str, Any], context: Any, client: Any = None) -> dict[str, Any]:
    client = client or events_client()
    bus = settings().event_bus_name
    for record in event.get("Records", []):
        entries = bus_entries(outbox_events(record), bus)
        try:
            failed = publish(client, entries) if entries else 0
        except Exception:
            logger().exception("publishing failed", extra={"sequence": record["dynamodb"].get("SequenceNumber")})
            failed = 1
        if failed:
            # Stream batches are ordered: report the first failure, Lambda retries from there.
            return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
    return {"batchItemFailures": []}
