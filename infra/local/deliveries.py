"""What the notifier delivered, read back from the emulator (GET /_local/notifications).

moto runs in this process (emulator.py), so its SES and SNS backends are plain objects here:
emails sent and SMS published are read from them. Push notifications are bus events, so they
come from the events tap. Nothing is drained: the notifier owns the notifications queue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.local.emulator import ACCOUNT_ID

PUSH_DETAIL_TYPE = "notification.push"  # what loyalty.notify puts on the bus for the app's push service


class Deliveries:
    """Emails, then SMS, then pushes, each in the order sent (moto keeps no send time for the first two)."""

    def __init__(self, region: str, bus_events: Callable[[], list[Any]], account_id: str = ACCOUNT_ID) -> None:
        self._region = region
        self._bus_events = bus_events
        self._account_id = account_id

    def delivered(self) -> list[dict[str, Any]]:
        return [*self.emails(), *self.sms(), *self.pushes()]

    def emails(self) -> list[dict[str, Any]]:
        from moto.ses.models import ses_backends

        sent = ses_backends[self._account_id][self._region].sent_messages
        return [
            {
                "channel": "email",
                "to": ", ".join(_recipients(getattr(message, "destinations", None))),
                "subject": getattr(message, "subject", None),
                "body": getattr(message, "body", None) or getattr(message, "raw_data", ""),
            }
            for message in list(sent)
        ]

    def sms(self) -> list[dict[str, Any]]:
        from moto.sns.models import sns_backends

        published = sns_backends[self._account_id][self._region].sms_messages
        return [{"channel": "sms", "to": phone, "body": text} for phone, text in list(published.values())]

    def pushes(self) -> list[dict[str, Any]]:
        return [
            {
                "channel": "push",
                "to": event["detail"].get("member_id"),
                "subject": event["detail"].get("title"),
                "body": event["detail"].get("body"),
                "at": event.get("time"),
            }
            for event in self._bus_events()
            if isinstance(event, dict) and event.get("detail-type") == PUSH_DETAIL_TYPE
        ]


def _recipients(destinations: Any) -> list[str]:
    """moto keeps SendEmail's Destination as given: ToAddresses, CcAddresses, BccAddresses."""
    if isinstance(destinations, dict):
        return [address for addresses in destinations.values() for address in addresses or ()]
    return [str(address) for address in destinations or ()]
