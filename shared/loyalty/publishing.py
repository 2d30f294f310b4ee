"""The outbox, published: stream records of items that carry new outbox events become bus events."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from loyalty.aws import aws_client
from loyalty.store.dynamo import from_item

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SOURCE = "loyalty"
PUT_EVENTS_BATCH = 10  # PutEvents takes at most 10 entries


def events_client() -> EventBridgeClient:
    client: EventBridgeClient = aws_client("events")
    return client


def outbox_events(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The events a stream record carries: those of a new `outbox_id` only, so an item
    updated later (a lot spent, a balance moved) does not publish its events again."""
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return []
    images = record.get("dynamodb", {})
    new = from_item(images.get("NewImage", {}))
    old = from_item(images.get("OldImage", {}))
    outbox_id = new.get("outbox_id")
    if not outbox_id or old.get("outbox_id") == outbox_id:
        return []
    return [
        {**event, "event_id": f"{outbox_id}:{position}", "outbox_id": outbox_id}
        for position, event in enumerate(new.get("outbox") or [])
    ]


def bus_entries(events: list[dict[str, Any]], bus_name: str) -> list[dict[str, Any]]:
    return [
        {
            "Source": SOURCE,
            "DetailType": event["type"],
            "Detail": json.dumps(event, default=str, sort_keys=True),
            "EventBusName": bus_name,
        }
        for event in events
    ]


def publish(client: EventBridgeClient, entries: list[dict[str, Any]]) -> int:
    """Put entries on the bus; returns how many failed (the caller retries the record)."""
    failed = 0
    for start in range(0, len(entries), PUT_EVENTS_BATCH):
        answer = client.put_events(Entries=entries[start : start + PUT_EVENTS_BATCH])  # type: ignore[arg-type]
        failed += answer.get("FailedEntryCount", 0)
    return failed
