"""The ingest queue (partial batch failures) and the outbox published from the stream."""

from __future__ import annotations

from typing import Any

from loyalty.publishing import outbox_events
from loyalty.store.store import LoyaltyStore
from tests.helpers import Api, handler, ledger_invariant, sqs_event
from tests.integration.conftest import Bus, Stream, enroll, order

P = "/v1/programs/acme"


def test_a_poison_message_fails_alone_and_the_other_nine_apply_once(
    api: Api, program: str, store: LoyaltyStore
) -> None:
    enroll(api, program, "m1")
    good = [{"type": "order", "program_id": program, "member_id": "m1", **order(f"q-{n}", 10 + n)} for n in range(9)]
    poison = {"type": "order", "program_id": program, "member_id": "m1", **order("bad", "-1")}
    event = sqs_event([*good[:4], poison, *good[4:]])

    result = handler("ingest")(event, None)
    again = handler("ingest")(event, None)  # SQS redelivers the batch: nothing doubles

    poison_id = event["Records"][4]["messageId"]
    assert result["batchItemFailures"] == [{"itemIdentifier": poison_id}]
    assert again["batchItemFailures"] == [{"itemIdentifier": poison_id}]
    assert ledger_invariant(store, program, "m1")["balance"] == sum(10 + n for n in range(9))


def test_messages_for_unknown_members_not_json_or_of_unknown_type_fail(api: Api, program: str) -> None:
    bodies: list[Any] = [
        "not json",
        {"type": "order", "program_id": program, "member_id": "ghost", **order("o", 5)},
        {"type": "teleport", "program_id": program, "member_id": "m1"},
        {"type": "activity", "program_id": program, "member_id": "m1", "activity_id": "a"},
    ]
    event = sqs_event(bodies)

    result = handler("ingest")(event, None)

    assert len(result["batchItemFailures"]) == 4


def test_the_stream_publishes_each_outbox_event_once(api: Api, program: str, dynamodb: Any, bus: Bus) -> None:

    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 600))  # earns and reaches silver
    api.post(f"{P}/members/m1/orders", order("o-1", 600))  # replay: no new event
    redemption = api.post(f"{P}/members/m1/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k"})
    api.post(f"{P}/members/m1/redemptions/{redemption.body['redemption_id']}/cancel")
    stream = {"Records": Stream(dynamodb).records()}

    assert handler("publisher")(stream, None) == {"batchItemFailures": []}

    received = bus.received()
    types = sorted(e["detail-type"] for e in received)
    assert types == sorted(
        ["member.enrolled", "points.earned", "tier.changed", "points.redeemed", "reward.redeemed", "points.reversed"]
    )
    earned = next(e["detail"] for e in received if e["detail-type"] == "points.earned")
    assert earned["program_id"] == program and earned["member_id"] == "m1" and earned["points"] == 600
    assert len({e["detail"]["event_id"] for e in received}) == len(received)


def test_a_failed_publish_reports_the_record_for_retry(api: Api, program: str, dynamodb: Any) -> None:
    enroll(api, program, "m1")
    stream = {"Records": Stream(dynamodb).records()}

    class FailingBus:
        def put_events(self, Entries: list[Any]) -> dict[str, Any]:
            return {"FailedEntryCount": len(Entries), "Entries": []}

    result = handler("publisher")(stream, None, client=FailingBus())

    first_with_events = next(record for record in stream["Records"] if outbox_events(record))
    assert result == {"batchItemFailures": [{"itemIdentifier": first_with_events["dynamodb"]["SequenceNumber"]}]}


def test_the_openapi_document_lists_every_route(api: Api) -> None:
    from infra.definitions import ROUTES

    document = api.get("/v1/openapi.json").body

    for route in ROUTES:
        if route.path != "/v1/openapi.json":
            assert route.method.lower() in document["paths"][route.path], route
    assert "OrderRequest" in document["components"]["schemas"]
