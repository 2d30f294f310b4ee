"""Given infra/definitions.py, the template holds exactly what it defines: nothing drifts."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra.app import settings_from_context
from infra.definitions import FUNCTIONS, QUEUES, ROUTES, SCHEDULES, TABLE
from tests.infrastructure.helpers import Synthesized, dead_letter_queue_ids, route_methods

pytestmark = pytest.mark.infrastructure


def test_queues_are_the_defined_ones_plus_dead_letter_queues(synthesized: Synthesized) -> None:
    queues = set(synthesized.of_type("AWS::SQS::Queue"))
    defined = {q.logical_id for q in QUEUES}
    assert defined <= queues
    # Everything else is a dead-letter queue of something: one per defined queue, plus the failure queues.
    assert queues - defined == dead_letter_queue_ids(synthesized)


def test_indexes_are_the_defined_ones(synthesized: Synthesized) -> None:
    props = synthesized.resources[TABLE.logical_id]["Properties"]
    assert [g["IndexName"] for g in props["GlobalSecondaryIndexes"]] == [i.name for i in TABLE.global_indexes]
    assert [i["IndexName"] for i in props["LocalSecondaryIndexes"]] == [i.name for i in TABLE.local_indexes]


def test_routes_are_the_defined_ones(synthesized: Synthesized) -> None:
    assert set(route_methods(synthesized)) == {(r.method, r.path) for r in ROUTES}


def test_schedules_and_functions_are_the_defined_ones(synthesized: Synthesized) -> None:
    schedules = synthesized.of_type("AWS::Scheduler::Schedule").values()
    assert sorted(s["Properties"]["ScheduleExpression"] for s in schedules) == sorted(
        f"cron({s.cron})" for s in SCHEDULES
    )
    handlers = [f["Properties"]["Handler"] for f in synthesized.of_type("AWS::Lambda::Function").values()]
    assert sorted(handlers) == sorted(f.handler for f in FUNCTIONS)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({}, ("dev", None, False)),
        (
            {"stage": "prod", "crm_webhook_url": "https://crm.example.com", "pos_api_keys": "true"},
            ("prod", "https://crm.example.com", True),
        ),
        ({"pos_api_keys": True}, ("dev", None, True)),
        ({"pos_api_keys": "false"}, ("dev", None, False)),
    ],
)
def test_context_values_become_settings(context: dict[str, object], expected: tuple[object, ...]) -> None:
    settings = settings_from_context(App(context=context))
    assert (settings.stage, settings.crm_webhook_url, settings.pos_api_keys) == expected


def test_the_sender_address_comes_from_the_context() -> None:
    assert settings_from_context(App()).email_from == "noreply@example.com"
    assert settings_from_context(App(context={"email_from": "club@shop.example"})).email_from == "club@shop.example"


@pytest.mark.parametrize(
    "context",
    [
        {"stage": "Prod!"},
        {"crm_webhook_url": "http://crm.example.com"},
        {"email_from": "Loyalty <loyalty@example.com>"},  # a display name is no SES identity
    ],
)
def test_bad_context_values_are_refused(context: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        settings_from_context(App(context=context))
