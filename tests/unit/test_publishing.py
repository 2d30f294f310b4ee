"""The outbox publisher: which stream records become bus events, exactly once per outbox write."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from loyalty.publishing import bus_entries, outbox_events

EARNED = {
    "M": {
        "type": {"S": "points.earned"},
        "program_id": {"S": "prog-1"},
        "member_id": {"S": "mem-1"},
        "points": {"N": "120"},
        "balance": {"N": "1520"},
        "lots": {"L": [{"M": {"lot_id": {"S": "lot-1"}, "points": {"N": "120"}}}]},
    }
}
TIER_CHANGED = {
    "M": {
        "type": {"S": "tier.changed"},
        "program_id": {"S": "prog-1"},
        "member_id": {"S": "mem-1"},
        "tier": {"S": "silver"},
        "rate": {"N": "1.25"},
    }
}


def image(outbox_id: str | None, *events: dict[str, Any], **extra: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": "P#prog-1#M#mem-1"}, "sk": {"S": "PROFILE"}, **extra}
    if outbox_id is not None:
        item["outbox_id"] = {"S": outbox_id}
        item["outbox"] = {"L": list(events)}
    return item


def record(event_name: str, new: dict[str, Any] | None = None, old: dict[str, Any] | None = None) -> dict[str, Any]:
    images: dict[str, Any] = {"Keys": {"pk": {"S": "P#prog-1#M#mem-1"}, "sk": {"S": "PROFILE"}}}
    if new is not None:
        images["NewImage"] = new
    if old is not None:
        images["OldImage"] = old
    return {"eventID": "1", "eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": images}


def test_given_an_insert_with_an_outbox_then_each_event_is_published_with_a_positional_event_id() -> None:
    events = outbox_events(record("INSERT", new=image("tx-01", EARNED, TIER_CHANGED)))

    assert events == [
        {
            "type": "points.earned",
            "program_id": "prog-1",
            "member_id": "mem-1",
            "points": 120,
            "balance": 1520,
            "lots": [{"lot_id": "lot-1", "points": 120}],
            "event_id": "tx-01:0",
            "outbox_id": "tx-01",
        },
        {
            "type": "tier.changed",
            "program_id": "prog-1",
            "member_id": "mem-1",
            "tier": "silver",
            "rate": Decimal("1.25"),
            "event_id": "tx-01:1",
            "outbox_id": "tx-01",
        },
    ]


def test_given_dynamodb_numbers_then_whole_numbers_come_out_as_int() -> None:
    (event,) = outbox_events(record("INSERT", new=image("tx-01", EARNED)))

    assert type(event["points"]) is int
    assert type(event["lots"][0]["points"]) is int


def test_given_a_modify_that_keeps_the_same_outbox_id_then_nothing_is_published_again() -> None:
    old = image("tx-01", EARNED, balance={"N": "1520"})
    new = image("tx-01", EARNED, balance={"N": "1400"})  # a later spend moved the balance only

    assert outbox_events(record("MODIFY", new=new, old=old)) == []


def test_given_a_modify_that_writes_a_new_outbox_id_then_only_the_new_outbox_is_published() -> None:
    old = image("tx-01", EARNED)
    new = image("tx-02", TIER_CHANGED)

    events = outbox_events(record("MODIFY", new=new, old=old))

    assert [(e["event_id"], e["type"]) for e in events] == [("tx-02:0", "tier.changed")]


def test_given_a_modify_adding_the_first_outbox_to_an_item_then_its_events_are_published() -> None:
    events = outbox_events(record("MODIFY", new=image("tx-01", EARNED), old=image(None)))

    assert [e["event_id"] for e in events] == ["tx-01:0"]


@pytest.mark.parametrize(
    "stream_record",
    [
        pytest.param(record("REMOVE", old=image("tx-01", EARNED)), id="remove"),
        pytest.param(record("INSERT", new=image(None)), id="insert-without-outbox"),
        pytest.param(record("INSERT", new=image("tx-01")), id="insert-with-empty-outbox"),
        pytest.param(
            record("INSERT", new={"pk": {"S": "x"}, "sk": {"S": "y"}, "outbox_id": {"S": "tx-01"}}),
            id="outbox-id-without-outbox",
        ),
        pytest.param(record("MODIFY", new=image(None), old=image("tx-01", EARNED)), id="modify-clearing-outbox"),
        pytest.param({"eventName": "INSERT"}, id="keys-only-record"),
        pytest.param({}, id="empty-record"),
    ],
)
def test_given_a_record_without_new_outbox_events_then_nothing_is_published(stream_record: dict[str, Any]) -> None:
    assert outbox_events(stream_record) == []


def test_given_the_same_insert_delivered_twice_then_both_deliveries_carry_the_same_event_ids() -> None:
    delivered = record("INSERT", new=image("tx-01", EARNED, TIER_CHANGED))

    first = [e["event_id"] for e in outbox_events(delivered)]
    second = [e["event_id"] for e in outbox_events(delivered)]

    assert first == second == ["tx-01:0", "tx-01:1"]


def test_given_events_then_bus_entries_carry_source_loyalty_the_type_as_detail_type_and_the_event_as_detail() -> None:
    events = outbox_events(record("INSERT", new=image("tx-01", EARNED, TIER_CHANGED)))

    entries = bus_entries(events, "loyalty-bus")

    assert [(e["Source"], e["DetailType"], e["EventBusName"]) for e in entries] == [
        ("loyalty", "points.earned", "loyalty-bus"),
        ("loyalty", "tier.changed", "loyalty-bus"),
    ]
    assert json.loads(entries[0]["Detail"]) == events[0]
    assert json.loads(entries[1]["Detail"])["rate"] == "1.25"  # a Decimal is sent as its exact text


def test_given_no_events_then_there_are_no_bus_entries() -> None:
    assert bus_entries([], "loyalty-bus") == []
