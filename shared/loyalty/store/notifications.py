"""Reads and writes of notification delivery (mixed into LoyaltyStore).

Delivery is at least once: the notifier checks the marker, sends, then writes the marker, so
a message redelivered after a successful send is skipped (only a crash between the send and
the write sends twice).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from loyalty.store import keys
from loyalty.store.dynamo import error_code, to_item, transient_faults_as_unavailable

# Longer than SQS keeps a message (14 days) and than any reminder marker guards (400 days), then TTL removes it.
DELIVERY_MARKER_DAYS = 400


def _delivery_key(program_id: str, member_id: str, event_id: str) -> dict[str, str]:
    return {"PK": keys.member_pk(program_id, member_id), "SK": f"DELIVERY#{event_id}"}


class NotificationStoreMixin:
    """Mixed into LoyaltyStore: it supplies `_query`, `_transact`, `_get`, `_put`, `client` and `table_name`."""

    def delivered(self, program_id: str, member_id: str, event_id: str) -> bool:
        """Whether this event was already delivered to the member."""
        return self._get(_delivery_key(program_id, member_id, event_id)) is not None  # type: ignore[attr-defined]

    def record_delivery(self, program_id: str, member_id: str, event_id: str, channel: str, now: datetime) -> bool:
        """The marker of a sent message (no address: erasure has nothing to remove); False if it existed."""
        from botocore.exceptions import ClientError

        item: dict[str, Any] = {
            **_delivery_key(program_id, member_id, event_id),
            "type": "delivery",
            "event_id": event_id,
            "channel": channel,
            "delivered_at": keys.timestamp(now),
            "ttl": int((now + timedelta(days=DELIVERY_MARKER_DAYS)).timestamp()),
        }
        try:
            with transient_faults_as_unavailable():
                self.client.put_item(  # type: ignore[attr-defined]
                    TableName=self.table_name,  # type: ignore[attr-defined]
                    Item=to_item(item),
                    ConditionExpression="attribute_not_exists(PK)",
                )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False  # a concurrent delivery of the same message wrote it first
            raise
        return True
