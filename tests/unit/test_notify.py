"""Reminder delivery without AWS: which channel, which template, what text."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from loyalty.domain.ledger import Member
from loyalty.notify import (
    DEFAULT_TEMPLATES,
    SMS_MAX_CHARS,
    Delivery,
    ReminderMessage,
    choose_channel,
    prepare,
    render,
    template_for,
)
from tests.unit.factories import member, program

ALL_CONSENTS = {"marketing_email": True, "marketing_sms": True, "marketing_push": True}
EXPIRING = {
    "type": "reminder.points_expiring",
    "program_id": "prog-1",
    "member_id": "mem-1",
    "event_id": "01JREMINDER:0",
    "outbox_id": "01JREMINDER",
    "points": 70,
    "expires_at": "2027-11-22T10:00:00+00:00",
    "window_days": 7,
    "channels": ["email"],
}
GERMAN = {
    "reminder.points_expiring": {
        "de": {
            "subject": "{points} Punkte verfallen bald",
            "body": "Hallo {first_name}, {points} Punkte verfallen am {expires_on}.",
        },
        "en": {"subject": "Points expire", "body": "{points} points expire on {expires_on}."},
    }
}


def reachable(**overrides: Any) -> Member:
    fields: dict[str, Any] = {"email": "eve@example.com", "phone": "+4930123456", "consents": ALL_CONSENTS}
    return member(**(fields | overrides))


def message(**overrides: Any) -> ReminderMessage:
    return ReminderMessage.model_validate(EXPIRING | overrides)


# ------------------------------------------------------------------ channel


@pytest.mark.parametrize(
    ("requested", "overrides", "expected"),
    [
        (["email", "sms", "push"], {}, ("email", "eve@example.com")),
        (["sms", "email"], {}, ("sms", "+4930123456")),
        (["email", "sms"], {"email": None}, ("sms", "+4930123456")),  # no address: the next channel
        (["email", "sms", "push"], {"email": None, "phone": None}, ("push", "mem-1")),  # push needs no address
        (["email", "sms"], {"email": None, "phone": None}, None),
        # Consent counts as it is now, not as when the reminder was made.
        (["email", "push"], {"consents": {"marketing_push": True}}, ("push", "mem-1")),
        (["email"], {"consents": {}}, None),
        ([], {"consents": {"marketing_sms": True}}, ("sms", "+4930123456")),  # no list: the consented ones
        (["fax", "email"], {}, ("email", "eve@example.com")),  # an unknown channel is passed over
    ],
)
def test_the_first_requested_channel_the_member_can_receive_is_chosen(
    requested: list[str], overrides: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    assert choose_channel(requested, reachable(**overrides)) == expected


# ------------------------------------------------------------------ templates


def test_a_custom_template_in_the_members_language_is_rendered() -> None:
    config = program(notification_templates=GERMAN)
    eve = reachable(first_name="Eve", attributes={"language": "de"})

    delivery = prepare(message(), eve, config.settings)

    assert delivery == Delivery(
        channel="email",
        address="eve@example.com",
        subject="70 Punkte verfallen bald",
        body="Hallo Eve, 70 Punkte verfallen am 2027-11-22.",
        event_id="01JREMINDER:0",
        program_id="prog-1",
        member_id="mem-1",
    )


@pytest.mark.parametrize(
    ("language", "templates", "expected_subject"),
    [
        ("de-AT", GERMAN, "70 Punkte verfallen bald"),  # the primary language when the region has none
        ("DE", GERMAN, "70 Punkte verfallen bald"),
        ("fr", GERMAN, "Points expire"),  # English when the language has none
        (None, GERMAN, "Points expire"),
        ("fr", {}, "70 points expire on 2027-11-22"),  # the built-in English text when the program has none
        (42, {}, "70 points expire on 2027-11-22"),  # not a language code: ignored
    ],
)
def test_the_template_falls_back_to_english_then_to_the_built_in_one(
    language: Any, templates: dict[str, Any], expected_subject: str
) -> None:
    config = program(notification_templates=templates)
    attributes = {} if language is None else {"language": language}

    delivery = prepare(message(), reachable(attributes=attributes), config.settings)

    assert delivery is not None and delivery.subject == expected_subject


def test_every_reminder_type_has_a_built_in_english_template() -> None:
    settings = program().settings
    for event_type in ("reminder.points_expiring", "reminder.welcome", "reminder.birthday"):
        assert template_for(event_type, "xx", settings) == DEFAULT_TEMPLATES[event_type]
    welcome = prepare(message(type="reminder.welcome"), reachable(), settings)
    assert welcome is not None and welcome.subject == "Welcome to Test programme"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{points} points, {bonus} bonus", "70 points, {bonus} bonus"),  # a missing placeholder stays as is
        ("{bonus:>5} and {bonus.name} and {bonus[0]}", "{bonus:>5} and {bonus.name} and {bonus[0]}"),
        ("{points:%Y} points", "{points:%Y} points"),  # a wrong format spec: that placeholder as written
        ("{points} and {0} and {}", "70 and {0} and {}"),  # positional fields are no event field
        ("{points} {", "{points} {"),  # an unmatched brace: the text as written
        ("{{literal}} {points:,}", "{literal} 70"),
        ("{points:>5}|{lots[1]}", "   70|b"),
    ],
)
def test_a_marketers_typo_never_raises(template: str, expected: str) -> None:
    assert render(template, {"points": 70, "lots": ["a", "b"]}) == expected


def test_an_sms_is_cut_to_what_sns_takes_and_a_subject_is_one_line() -> None:
    long = {"reminder.points_expiring": {"en": {"subject": "Your\npoints\r\n expire", "body": "x" * 4000}}}
    config = program(notification_templates=long)

    sms = prepare(message(channels=["sms"]), reachable(), config.settings)
    email = prepare(message(), reachable(), config.settings)

    assert sms is not None and len(sms.body) == SMS_MAX_CHARS
    assert email is not None and len(email.body) == 4000 and email.subject == "Your points expire"


def test_no_delivery_when_no_requested_channel_is_receivable() -> None:
    assert prepare(message(channels=["sms"]), reachable(phone=None), program().settings) is None


@pytest.mark.parametrize(
    "body",
    [
        {**EXPIRING, "type": "points.expired"},  # only reminders are delivered
        {key: value for key, value in EXPIRING.items() if key != "event_id"},  # no id: no redelivery guard
        {**EXPIRING, "member_id": ""},
    ],
)
def test_a_message_that_is_no_reminder_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ReminderMessage.model_validate(body)
