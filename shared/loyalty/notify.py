"""Reminder delivery: which channel, what message, and the adapters that send it.

Choosing a channel and rendering a message are plain functions over the member and the
program's templates (no AWS). The adapters at the end make their boto3 client on first use;
tests inject their own through `use_channels`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Formatter
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field

from loyalty.aws import aws_client
from loyalty.domain.ledger import Member
from loyalty.domain.program import Identifier, MessageTemplate, ProgramSettings

Channel = Literal["email", "sms", "push"]
CHANNELS: tuple[Channel, ...] = ("email", "sms", "push")
DEFAULT_LANGUAGE = "en"
PUSH_DETAIL_TYPE = "notification.push"
# SNS refuses longer SMS; a long template must not send the message to the DLQ for good.
SMS_MAX_CHARS = 1600

# Used when the program has no template for the reminder type in the member's language or English.
DEFAULT_TEMPLATES: dict[str, MessageTemplate] = {
    "reminder.points_expiring": MessageTemplate(
        subject="{points} points expire on {expires_on}",
        body="Hello, {points} of your {program_name} points expire on {expires_on}. Use them before then!",
    ),
    "reminder.welcome": MessageTemplate(
        subject="Welcome to {program_name}",
        body="Welcome to {program_name}! You collect points with every purchase and spend them on rewards.",
    ),
    "reminder.birthday": MessageTemplate(
        subject="Happy birthday from {program_name}",
        body="Happy birthday! Everyone at {program_name} wishes you a wonderful day.",
    ),
}
FALLBACK_TEMPLATE = MessageTemplate(subject="News from {program_name}", body="There is news about your points.")


class ReminderMessage(BaseModel):
    """A `reminder.*` event as the publisher puts it on the notifications queue; other fields fill templates."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(pattern=r"^reminder\.[a-z_]+$")
    program_id: Identifier
    member_id: Identifier
    event_id: str = Field(min_length=1, max_length=256)  # the delivery marker's key: redeliveries send once
    channels: list[str] = Field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        return self.model_dump()


@dataclass(frozen=True)
class Delivery:
    channel: Channel
    address: str  # the email address, the E.164 phone number, or the member id for push
    subject: str
    body: str
    event_id: str
    program_id: str
    member_id: str


# ------------------------------------------------------------------ choosing


def consented_channels(member: Member) -> list[Channel]:
    """The channels the member agreed to now (consent may have been withdrawn since the reminder)."""
    return [channel for channel in CHANNELS if member.consents.get(f"marketing_{channel}")]


def address_for(member: Member, channel: Channel) -> str | None:
    if channel == "email":
        return member.email or None
    if channel == "sms":
        return member.phone or None
    return member.member_id  # push: the app's push service knows the member's devices


def choose_channel(requested: Sequence[str], member: Member) -> tuple[Channel, str] | None:
    """The first requested channel the member consents to and has an address for (None: none).

    An event without `channels` falls back to the member's consented channels in CHANNELS order.
    """
    allowed = consented_channels(member)
    for name in requested or allowed:
        channel = cast(Channel, name)
        if channel in allowed and (address := address_for(member, channel)):
            return channel, address
    return None


# ------------------------------------------------------------------ rendering


def member_language(member: Member) -> str:
    language = member.attributes.get("language")
    return language.strip().lower().replace("_", "-") if isinstance(language, str) and language.strip() else ""


def template_for(event_type: str, language: str, settings: ProgramSettings) -> MessageTemplate:
    """The program's template in the language ("de-at", then "de"), else in English, else the built-in one."""
    by_language = {lang.lower(): t for lang, t in settings.notification_templates.get(event_type, {}).items()}
    for candidate in (language, language.split("-")[0], DEFAULT_LANGUAGE):
        if candidate and candidate in by_language:
            return by_language[candidate]
    return DEFAULT_TEMPLATES.get(event_type, FALLBACK_TEMPLATE)


class _Placeholder:
    """A field the event does not carry: it renders as written, `{name}` (with its format spec)."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __format__(self, spec: str) -> str:
        return "{" + self._text + (":" + spec if spec else "") + "}"

    def __str__(self) -> str:
        return "{" + self._text + "}"

    __repr__ = __str__

    def __getattr__(self, name: str) -> _Placeholder:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Placeholder(f"{self._text}.{name}")

    def __getitem__(self, key: Any) -> _Placeholder:
        return _Placeholder(f"{self._text}[{key}]")


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> _Placeholder:
        return _Placeholder(key)


# What a bad placeholder can raise: a wrong format spec, index, attribute or a positional `{0}`.
_TEMPLATE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def render(template: str, fields: Mapping[str, Any]) -> str:
    """`template` with `{name}` filled from `fields`; a marketer's typo never raises.

    Unknown names stay as written. Only JSON values are offered, so an attribute lookup in a
    placeholder reaches nothing but built-in types.
    """
    safe = _Fields(fields)
    try:
        return template.format_map(safe)
    except _TEMPLATE_ERRORS:
        return _render_each(template, safe)


def _render_each(template: str, fields: _Fields) -> str:
    """Field by field: what renders is filled in, what does not stays as written."""
    try:
        parts = list(Formatter().parse(template))
    except ValueError:  # an unmatched brace: the text as written
        return template
    rendered: list[str] = []
    for literal, name, spec, conversion in parts:
        rendered.append(literal)  # already unescaped: "{{" came back as "{"
        if name is None:
            continue
        original = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        try:
            rendered.append(original.format_map(fields))
        except _TEMPLATE_ERRORS:
            rendered.append(original)
    return "".join(rendered)


def template_fields(message: ReminderMessage, member: Member, settings: ProgramSettings) -> dict[str, Any]:
    """What a template may name: the event's fields, plus the program's name and some of the member's."""
    fields: dict[str, Any] = {"program_name": settings.name, "balance": member.balance}
    if member.tier:
        fields["tier"] = member.tier
    if member.first_name:
        fields["first_name"] = member.first_name
    event = message.fields()
    if isinstance(event.get("expires_at"), str):
        fields["expires_on"] = event["expires_at"][:10]  # the day, for people
    return fields | event


def prepare(message: ReminderMessage, member: Member, settings: ProgramSettings) -> Delivery | None:
    """The message to send and where (None: no channel the member can receive now)."""
    chosen = choose_channel(message.channels, member)
    if chosen is None:
        return None
    channel, address = chosen
    template = template_for(message.type, member_language(member), settings)
    fields = template_fields(message, member, settings)
    subject = " ".join(render(template.subject, fields).split())  # one line: it becomes a mail header
    body = render(template.body, fields)
    if channel == "sms":
        body = body[:SMS_MAX_CHARS]
    return Delivery(channel, address, subject, body, message.event_id, message.program_id, message.member_id)


# ------------------------------------------------------------------ sending


class DeliveryFailed(Exception):
    """The channel refused the message: the queue message fails alone and is retried."""


class Sender(Protocol):
    def send(self, delivery: Delivery) -> str:
        """Send it; returns the provider's message id, raises when it was not accepted."""
        ...


class SesEmail:
    """Email through SES, from the verified identity in LOYALTY_EMAIL_FROM."""

    def __init__(self, client: Any = None, source: str | None = None) -> None:
        self._client, self._source = client, source

    def send(self, delivery: Delivery) -> str:
        from loyalty.config import settings

        self._client = self._client or aws_client("ses")
        answer = self._client.send_email(
            Source=self._source or settings().email_from,
            Destination={"ToAddresses": [delivery.address]},
            Message={
                "Subject": {"Data": delivery.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": delivery.body, "Charset": "UTF-8"}},
            },
        )
        return str(answer["MessageId"])


class SnsSms:
    """SMS through SNS, straight to the phone number (no topic)."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def send(self, delivery: Delivery) -> str:
        self._client = self._client or aws_client("sns")
        answer = self._client.publish(PhoneNumber=delivery.address, Message=delivery.body)
        return str(answer["MessageId"])


class EventBridgePush:
    """Push as a `notification.push` event on the loyalty bus; the app's push service subscribes to it."""

    def __init__(self, client: Any = None, bus_name: str | None = None) -> None:
        self._client, self._bus_name = client, bus_name

    def send(self, delivery: Delivery) -> str:
        from loyalty.config import settings
        from loyalty.publishing import SOURCE, events_client

        self._client = self._client or events_client()
        detail = {
            "member_id": delivery.member_id,
            "program_id": delivery.program_id,
            "title": delivery.subject,
            "body": delivery.body,
            "event_id": delivery.event_id,
        }
        answer = self._client.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": PUSH_DETAIL_TYPE,
                    "Detail": json.dumps(detail, sort_keys=True),
                    "EventBusName": self._bus_name or settings().event_bus_name,
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            entry = answer["Entries"][0]
            raise DeliveryFailed(
                f"the bus refused the push event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
            )
        return str(answer["Entries"][0].get("EventId", ""))


_senders: Mapping[str, Sender] | None = None
_lock = threading.Lock()


def senders() -> Mapping[str, Sender]:
    """One sender per channel, made once per process (their clients on first send)."""
    global _senders
    if _senders is None:
        with _lock:
            if _senders is None:
                _senders = {"email": SesEmail(), "sms": SnsSms(), "push": EventBridgePush()}
    return _senders


def use_senders(replacement: Mapping[str, Sender] | None) -> None:
    """Tests inject their own senders here (None: the AWS ones again)."""
    global _senders
    _senders = replacement


def send(delivery: Delivery) -> str:
    return senders()[delivery.channel].send(delivery)
