"""The notifier in-process against moto: reminders from the queue become emails, SMS and push events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from loyalty.config import settings
from loyalty.store.store import LoyaltyStore
from tests.helpers import Api, handler, sqs_event
from tests.integration.conftest import PROGRAM, enroll

P = "/v1/programs/acme"
REGION = "us-east-1"


def reminder(member_id: str, event_id: str, channels: list[str], **fields: Any) -> dict[str, Any]:
    """A reminder as the publisher puts it on the notifications queue."""
    return {
        "type": "reminder.points_expiring",
        "program_id": "acme",
        "member_id": member_id,
        "event_id": event_id,
        "outbox_id": event_id.split(":")[0],
        "points": 70,
        "expires_at": "2027-11-22T10:00:00+00:00",
        "window_days": 7,
        "channels": channels,
        "lots": ["01JLOT"],
        **fields,
    }


def notify(*bodies: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    event = sqs_event(list(bodies), queue="NotificationsQueue")
    return handler("notifier")(event, None), event


def emails() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def texts() -> list[tuple[str, str]]:
    return list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())


@pytest.fixture
def ses(aws: None) -> Any:
    return boto3.client("ses", region_name=REGION)


@pytest.fixture
def verified(ses: Any) -> str:
    ses.verify_email_identity(EmailAddress=settings().email_from)
    return settings().email_from


@pytest.fixture
def tap(aws: None) -> Iterator[Any]:
    """A queue that receives every event on the bus, as the push service's rule would."""
    events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name=settings().event_bus_name)
    url = sqs.create_queue(QueueName="tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="all", EventBusName=settings().event_bus_name, EventPattern=json.dumps({"source": ["loyalty"]})
    )
    events.put_targets(Rule="all", EventBusName=settings().event_bus_name, Targets=[{"Id": "tap", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    yield received


def test_a_reminder_becomes_an_email_in_the_members_language(
    api: Api, program: str, verified: str, store: LoyaltyStore
) -> None:
    templates = {
        "reminder.points_expiring": {
            "de": {
                "subject": "{points} Punkte verfallen",
                "body": "Hallo {first_name}, am {expires_on} verfallen {points} Punkte.",
            }
        }
    }
    assert api.put(P, {**PROGRAM, "notification_templates": templates}).status == 200
    consents = {"marketing_email": True}
    enroll(api, program, "eve", first_name="Eve", consents=consents, attributes={"language": "de"})

    result, _ = notify(reminder("eve", "01JA:0", ["email", "push"]))

    assert result == {"batchItemFailures": []}
    (sent,) = emails()
    assert sent.source == verified
    assert sent.destinations["ToAddresses"] == ["eve@example.com"]
    assert sent.subject == "70 Punkte verfallen"
    assert sent.body == "Hallo Eve, am 2027-11-22 verfallen 70 Punkte."
    assert store.delivered("acme", "eve", "01JA:0")


def test_an_sms_member_gets_a_text_and_a_push_member_an_event_on_the_bus(
    api: Api, program: str, verified: str, tap: Any
) -> None:
    enroll(api, program, "sam", phone="+49 30 1234567", consents={"marketing_sms": True})
    enroll(api, program, "pia", consents={"marketing_push": True})

    result, _ = notify(
        reminder("sam", "01JB:0", ["email", "sms", "push"]),
        reminder("pia", "01JC:0", ["email", "sms", "push"]),
    )

    assert result == {"batchItemFailures": []}
    assert emails() == []  # both have an email address, neither agreed to email
    ((phone, text),) = texts()
    assert phone == "+49301234567"
    assert "70" in text and "2027-11-22" in text
    (push,) = [e for e in tap() if e["detail-type"] == "notification.push"]
    assert push["source"] == "loyalty"
    assert push["detail"]["member_id"] == "pia" and push["detail"]["program_id"] == "acme"
    assert push["detail"]["event_id"] == "01JC:0"
    assert push["detail"]["title"] == "70 points expire on 2027-11-22"
    assert "70" in push["detail"]["body"]


def test_nothing_is_sent_to_an_erased_missing_or_unwilling_member_and_the_messages_succeed(
    api: Api, program: str, verified: str
) -> None:
    enroll(api, program, "gone", consents={"marketing_email": True})
    assert api.call("DELETE", f"{P}/members/gone").status == 200
    enroll(api, program, "quiet", consents={"marketing_email": False})
    enroll(api, program, "nophone", consents={"marketing_sms": True})

    result, _ = notify(
        reminder("gone", "01JD:0", ["email"]),
        reminder("ghost", "01JE:0", ["email"]),
        reminder("quiet", "01JF:0", ["email"]),
        reminder("nophone", "01JG:0", ["sms"]),
    )

    assert result == {"batchItemFailures": []}
    assert emails() == [] and texts() == []


def test_a_redelivered_message_is_not_sent_twice(api: Api, program: str, verified: str) -> None:
    enroll(api, program, "eve", consents={"marketing_email": True})
    body = reminder("eve", "01JH:0", ["email"])

    first, _ = notify(body)
    again, _ = notify(body)  # SQS delivers at least once

    assert first == again == {"batchItemFailures": []}
    assert len(emails()) == 1


def test_a_refused_email_fails_its_message_alone(api: Api, program: str, ses: Any, store: LoyaltyStore) -> None:
    # No verified identity: SES refuses the sender.
    enroll(api, program, "eve", consents={"marketing_email": True})
    enroll(api, program, "sam", phone="+49 30 1234567", consents={"marketing_sms": True})

    result, event = notify(reminder("eve", "01JI:0", ["email"]), reminder("sam", "01JJ:0", ["sms"]))

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert emails() == [] and len(texts()) == 1
    assert not store.delivered("acme", "eve", "01JI:0")  # retried later, and sent then
    assert store.delivered("acme", "sam", "01JJ:0")


def test_a_message_that_is_no_reminder_fails(api: Api, program: str, verified: str) -> None:
    result, event = notify({"type": "points.expired", "program_id": "acme", "member_id": "eve", "event_id": "x"})

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
