"""Refunds through the real handlers: claw-back by lines or amount, pending first, debt, exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from loyalty.api.runtime import Runtime
from loyalty.models import RefundRequest
from loyalty.services import redemption, refunds
from loyalty.store.store import LoyaltyStore
from tests.helpers import Answer, Api, handler, ledger_invariant, sqs_event
from tests.integration.conftest import PROGRAM, earn_directly, enroll, order, served

P = "/v1/programs/acme"
M = f"{P}/members/m1"


def _lines(*prices_and_quantities: tuple[str, int]) -> list[dict[str, Any]]:
    return [
        {"line_id": f"l{n}", "sku": f"SKU-{n}", "quantity": quantity, "unit_price": price}
        for n, (price, quantity) in enumerate(prices_and_quantities, start=1)
    ]


def _refund(api: Api, order_id: str, body: dict[str, Any]) -> Answer:
    return api.post(f"{M}/orders/{order_id}/refunds", body)


def _member(api: Api) -> dict[str, Any]:
    answer = api.get(M)
    assert answer.status == 200, answer.body
    return answer.body


def test_full_refund_restores_the_balance_to_before_the_order(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1")
    assert api.post(f"{M}/orders", order("o-0", 40)).status == 201
    before = _member(api)["balance"]
    earned = api.post(f"{M}/orders", order("o-1", 100, items=_lines(("33.33", 1), ("33.33", 1), ("33.34", 1))))
    assert earned.status == 201 and earned.body["points"] == 100

    answer = _refund(api, "o-1", {"refund_id": "r-1"})

    assert answer.status == 201, answer.body
    assert answer.body["points"] == 100
    assert answer.body["debt"] == answer.body["debt_added"] == 0
    assert answer.body["lots"] == [{"lot_id": earned.body["transaction_id"], "points": 100}]
    assert _member(api)["balance"] == before == 40
    assert ledger_invariant(store, program, "m1")["ledger"] == 40
    # Nothing is left to refund.
    again = _refund(api, "o-1", {"refund_id": "r-2"})
    assert (again.status, again.error_code) == (422, "validation_error")


def test_lines_refund_claws_back_each_lines_share_and_the_last_unit_takes_what_is_left(
    api: Api, program: str, store: LoyaltyStore
) -> None:
    enroll(api, program, "m1")
    # The base rate is earned per line (30 on 3 x 10, 70 on 70: the lines decide, not the amount), and
    # the entry records each line's points: a refund takes a returned unit's share of its line.
    body = order("o-1", 101, items=_lines(("10", 3), ("70", 1)))
    assert api.post(f"{M}/orders", body).body["points"] == 100

    first = _refund(api, "o-1", {"refund_id": "r-1", "lines": [{"line_id": "l1", "quantity": 1}]})
    second = _refund(api, "o-1", {"refund_id": "r-2", "lines": [{"line_id": "l1", "quantity": 2}]})
    third = _refund(api, "o-1", {"refund_id": "r-3", "lines": [{"line_id": "l2", "quantity": 1}]})

    assert [a.status for a in (first, second, third)] == [201, 201, 201]
    assert [a.body["points"] for a in (first, second, third)] == [10, 20, 70]
    assert first.body["rules"] == [{"rule_id": "base_rate", "points": 10}]
    assert third.body["balance"] == 0
    assert ledger_invariant(store, program, "m1") == {"ledger": 0, "balance": 0, "lots": 0, "debt": 0}


def test_amount_refund_is_pro_rata_and_never_above_what_is_left(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1")
    api.post(f"{M}/orders", order("o-1", 90))

    part = _refund(api, "o-1", {"refund_id": "r-1", "amount": 25})
    too_much = _refund(api, "o-1", {"refund_id": "r-2", "amount": "65.01"})
    rest = _refund(api, "o-1", {"refund_id": "r-3", "amount": 65, "currency": "EUR"})

    assert (part.status, part.body["points"]) == (201, 25)
    assert (too_much.status, too_much.error_code) == (422, "validation_error")
    assert (rest.status, rest.body["points"], rest.body["balance"]) == (201, 65, 0)
    ledger_invariant(store, program, "m1")


def test_pending_points_are_clawed_back_first(api: Api, program: str, store: LoyaltyStore) -> None:
    api.put(P, {**PROGRAM, "pending_days": 30})
    enroll(api, program, "m1")
    api.post(f"{M}/orders", order("o-old", 50, "2026-09-01T10:00:00+00:00"))  # available by now
    api.post(f"{M}/orders", order("o-1", 80))  # pending until December
    assert (_member(api)["balance"], _member(api)["pending"]) == (50, 80)

    answer = _refund(api, "o-1", {"refund_id": "r-1", "amount": 30})

    assert answer.status == 201, answer.body
    assert (answer.body["points"], answer.body["balance"], answer.body["pending"]) == (30, 50, 50)
    assert (_member(api)["balance"], _member(api)["pending"]) == (50, 50)
    ledger_invariant(store, program, "m1")


def test_a_refund_takes_other_pending_points_before_it_adds_debt(api: Api, program: str, store: LoyaltyStore) -> None:
    api.put(P, {**PROGRAM, "pending_days": 30})
    enroll(api, program, "m1")
    api.post(f"{M}/orders", order("o-1", 100, "2026-09-01T10:00:00+00:00"))  # available by now
    assert api.post(f"{M}/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k1"}).status == 201
    api.post(f"{M}/orders", order("o-2", 80))  # pending until December
    assert (_member(api)["balance"], _member(api)["pending"]) == (0, 80)

    answer = _refund(api, "o-1", {"refund_id": "r-1"})

    # o-1's 100 points were spent: the member's pending 80 pay first, 20 become debt.
    assert answer.status == 201, answer.body
    assert (answer.body["pending"], answer.body["debt_added"], answer.body["balance"]) == (0, 20, 0)
    assert (_member(api)["pending"], _member(api)["debt"]) == (0, 20)
    assert ledger_invariant(store, program, "m1") == {"ledger": -20, "balance": 0, "lots": 0, "debt": 20}


def test_spent_points_become_debt_and_the_next_earn_pays_it_first(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1")
    api.post(f"{M}/orders", order("o-1", 150))
    assert api.post(f"{M}/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k1"}).status == 201

    answer = _refund(api, "o-1", {"refund_id": "r-1"})

    assert answer.status == 201, answer.body
    assert (answer.body["points"], answer.body["debt_added"], answer.body["debt"]) == (150, 100, 100)
    assert (answer.body["balance"], _member(api)["debt"]) == (0, 100)
    assert ledger_invariant(store, program, "m1") == {"ledger": -100, "balance": 0, "lots": 0, "debt": 100}

    small = api.post(f"{M}/orders", order("o-2", 60))
    assert (small.body["points"], small.body["debt_paid"], small.body["balance"]) == (60, 60, 0)
    big = api.post(f"{M}/orders", order("o-3", 70))
    assert (big.body["points"], big.body["debt_paid"], big.body["balance"]) == (70, 40, 30)
    assert _member(api)["debt"] == 0
    assert ledger_invariant(store, program, "m1") == {"ledger": 30, "balance": 30, "lots": 30, "debt": 0}
    # A replayed earn answers the same debt paid and pays nothing twice.
    assert api.post(f"{M}/orders", order("o-3", 70)).body == big.body
    assert _member(api)["balance"] == 30


def test_a_cancelled_redemption_pays_the_debt_before_it_refills_a_lot(
    api: Api, program: str, store: LoyaltyStore
) -> None:
    enroll(api, program, "m1")
    api.post(f"{M}/orders", order("o-1", 150))
    redeemed = api.post(f"{M}/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k1"})
    assert redeemed.status == 201 and redeemed.body["points"] == 100
    assert _refund(api, "o-1", {"refund_id": "r-1"}).body["debt"] == 100

    cancel = api.post(f"{M}/redemptions/{redeemed.body['redemption_id']}/cancel", {})

    # The 100 points given back pay the 100 owed: nothing becomes spendable again.
    assert cancel.status == 201, cancel.body
    assert (cancel.body["points"], cancel.body["debt_paid"], cancel.body["balance"], cancel.body["lots"]) == (
        100,
        100,
        0,
        [],
    )
    assert (_member(api)["balance"], _member(api)["debt"]) == (0, 0)
    assert ledger_invariant(store, program, "m1") == {"ledger": 0, "balance": 0, "lots": 0, "debt": 0}
    refused = api.post(f"{M}/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k2"})
    assert (refused.status, refused.error_code) == (422, "insufficient_points")
    # A replayed cancel answers the same and pays nothing twice.
    assert api.post(f"{M}/redemptions/{redeemed.body['redemption_id']}/cancel", {}).body == cancel.body


def test_a_returned_purchase_stops_counting_for_segments_and_the_next_tier_review(
    api: Api, program: str, store: LoyaltyStore, clock: Any
) -> None:
    api.put(f"{P}/segments/regular", {"name": "Regular", "condition": "member.orders_365d >= 2"})
    enroll(api, program, "m1")
    assert api.post(f"{M}/orders", order("o-1", 2100)).body["tier"] == "gold"
    clock.advance(days=300)
    # Near the end of the tier's validity the member buys enough to keep gold, then returns it all.
    api.post(f"{M}/orders", order("o-2", 2100, occurred_at=clock().isoformat()))
    bought = _member(api)
    assert (bought["orders_365d"], bought["segments"]) == (2, ["regular"])

    assert _refund(api, "o-2", {"refund_id": "r-1"}).status == 201

    returned = _member(api)
    assert (returned["orders_365d"], returned["spend_365d"]["amount"], returned["segments"]) == (1, 2100.0, [])
    assert returned["lifetime_points"] == 2100
    assert returned["tier"] == "gold"  # a refund never moves the tier at once: the review does
    review = handler("tier_review")(
        {"job": "tier-review", "scheduled_time": (clock() + timedelta(days=66)).isoformat()}, None
    )
    assert review["downgraded"] == 1 and _member(api)["tier"] == "silver"


def test_replay_conflict_and_bad_refunds(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1")
    api.post(f"{M}/orders", order("o-1", 50, items=_lines(("10", 5))))
    body = {"refund_id": "r-1", "lines": [{"line_id": "l1", "quantity": 2}]}

    first = _refund(api, "o-1", body)
    replayed = _refund(api, "o-1", body)
    conflict = _refund(api, "o-1", {**body, "lines": [{"line_id": "l1", "quantity": 1}]})
    same_id_other_order = _refund(api, "o-2", body)
    unknown_order = _refund(api, "o-2", {**body, "refund_id": "r-9"})

    assert (first.status, replayed.status) == (201, 200)
    assert replayed.body == first.body
    assert (conflict.status, conflict.error_code) == (409, "idempotency_conflict")
    assert (same_id_other_order.status, same_id_other_order.error_code) == (409, "idempotency_conflict")
    assert (unknown_order.status, unknown_order.error_code) == (404, "not_found")
    refused = [
        _refund(api, "o-1", {"refund_id": "r-2", "lines": [{"line_id": "l9", "quantity": 1}]}),
        _refund(api, "o-1", {"refund_id": "r-3", "lines": [{"line_id": "l1", "quantity": 4}]}),
        _refund(api, "o-1", {"refund_id": "r-4", "amount": 31}),
        _refund(api, "o-1", {"refund_id": "r-5", "amount": 1, "lines": [{"line_id": "l1", "quantity": 1}]}),
        _refund(api, "o-1", {"refund_id": "r-6", "amount": 1, "currency": "USD"}),
    ]
    assert [(a.status, a.error_code) for a in refused] == [(422, "validation_error")] * 5
    assert _member(api)["balance"] == 30
    assert ledger_invariant(store, program, "m1")["ledger"] == 30


def _refund_line(runtime: Runtime, refund_id: str, line_id: str) -> Answer:
    """What POST .../refunds does, minus the HTTP shell (see tests.integration.conftest.served)."""
    request = RefundRequest.model_validate({"refund_id": refund_id, "lines": [{"line_id": line_id, "quantity": 1}]})
    return served(lambda: refunds.refund(runtime.store, runtime.program("acme"), "m1", "o-1", request, runtime.now()))


def test_20_concurrent_refunds_of_an_order_of_10_lines_claw_back_exactly_what_it_earned(
    api: Api, program: str, store: LoyaltyStore, runtime: Runtime
) -> None:
    enroll(api, program, "m1")
    earned = api.post(f"{M}/orders", order("o-1", 97, items=_lines(*[("9.7", 1)] * 10))).body["points"]
    assert earned == 97

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda n: _refund_line(runtime, f"r-{n}", f"l{n % 10 + 1}"), range(20)))

    successes = [a for a in answers if a.status == 201]
    assert len(successes) == 10, [a.body for a in answers if a.status != 201]
    assert {(a.status, a.error_code) for a in answers if a.status != 201} == {(422, "validation_error")}
    assert sum(a.body["points"] for a in successes) == earned
    assert ledger_invariant(store, program, "m1") == {"ledger": 0, "balance": 0, "lots": 0, "debt": 0}


def test_a_cancel_and_an_earn_racing_to_pay_one_debt_pay_it_once(
    api: Api, program: str, store: LoyaltyStore, runtime: Runtime
) -> None:
    """Both pay the refund debt first; whichever commits second must see what the first paid."""
    members = [f"d{n}" for n in range(8)]
    redemptions = {}
    for member_id in members:
        enroll(api, program, member_id)
        path = f"{P}/members/{member_id}"
        api.post(f"{path}/orders", order("o-1", 150))
        redeemed = api.post(f"{path}/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k1"})
        redemptions[member_id] = redeemed.body["redemption_id"]
        assert api.post(f"{path}/orders/o-1/refunds", {"refund_id": "r-1"}).body["debt"] == 100

    def cancel(member_id: str) -> Answer:
        config = runtime.program("acme")
        return served(lambda: redemption.cancel(store, config, member_id, redemptions[member_id], runtime.now()))

    def earn(member_id: str) -> Answer:
        return earn_directly(runtime, member_id, order("o-2", 60))

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = [pool.submit(work, member_id) for member_id in members for work in (cancel, earn)]
    assert [done.result().status for done in answers] == [201] * 2 * len(members)

    # 100 given back + 60 earned - 100 owed = 60, whichever came first.
    for member_id in members:
        assert ledger_invariant(store, program, member_id) == {"ledger": 60, "balance": 60, "lots": 60, "debt": 0}


def test_a_refund_through_the_ingest_queue_is_the_same_refund(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1")
    api.post(f"{M}/orders", order("o-1", 80))
    message = {"type": "refund", "program_id": program, "member_id": "m1", "order_id": "o-1", "refund_id": "q-r1"}
    bad = {"type": "refund", "program_id": program, "member_id": "m1", "order_id": "o-9", "refund_id": "q-r2"}
    ingest = handler("ingest")

    first = ingest(sqs_event([message, bad]), None)
    again = ingest(sqs_event([message]), None)

    assert len(first["batchItemFailures"]) == 1  # the unknown order fails alone
    assert again["batchItemFailures"] == []
    assert _member(api)["balance"] == 0
    # The API sees the queue's refund as the same refund.
    replay = _refund(api, "o-1", {"refund_id": "q-r1"})
    assert (replay.status, replay.body["points"]) == (200, 80)
    ledger_invariant(store, program, "m1")
