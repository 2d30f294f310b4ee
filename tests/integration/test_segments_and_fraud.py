"""Segments, member aggregates and fraud controls, through the real handlers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from loyalty.api.runtime import Runtime
from loyalty.store.store import LoyaltyStore
from tests.helpers import Api, ledger_invariant
from tests.integration.conftest import PROGRAM, earn_directly, enroll, order

P = "/v1/programs/acme"


def _entries(store: LoyaltyStore, member_id: str) -> list[dict[str, Any]]:
    return [item for item in store.member_items("acme", member_id) if item.get("type") == "entry"]


def _with_fraud(api: Api, **caps: int) -> None:
    assert api.put(P, {**PROGRAM, "fraud": caps}).status == 200


# --- segments -------------------------------------------------------------------------------------


def test_a_segment_is_saved_read_and_replaced(api: Api, program: str) -> None:
    body = {"name": "Big spenders", "condition": "member.spend_365d >= 100.0"}

    created = api.put(f"{P}/segments/big", body)
    replaced = api.put(f"{P}/segments/big", {**body, "name": "Bigger"})

    assert created.status == 201 and created.body == {"segment_id": "big", **body}
    assert replaced.status == 200
    assert api.get(f"{P}/segments/big").body == {"segment_id": "big", **body, "name": "Bigger"}
    assert api.get(P).body["segments"] == {"big": {**body, "name": "Bigger"}}


def test_a_segment_whose_condition_is_not_cel_or_reads_an_event_is_refused_and_not_stored(
    api: Api, program: str
) -> None:
    broken = api.put(f"{P}/segments/s1", {"name": "Broken", "condition": "member.country =="})
    outside = api.put(f"{P}/segments/s1", {"name": "Orders", "condition": "order.amount > 10.0"})

    assert (broken.status, broken.error_code) == (422, "validation_error")
    assert (outside.status, outside.error_code) == (422, "validation_error")
    assert outside.body["error"]["details"]["unknown"] == ["order"]
    assert api.get(f"{P}/segments/s1").status == 404
    assert api.put("/v1/programs/nope/segments/s1", {"name": "x", "condition": "true"}).status == 404


def test_the_member_shows_aggregates_and_segments_as_orders_come_in(api: Api, program: str, clock) -> None:
    api.put(f"{P}/segments/big", {"name": "Big", "condition": "member.spend_365d >= 100.0"})
    api.put(f"{P}/segments/de", {"name": "Germany", "condition": 'member.country == "DE"'})
    api.put(f"{P}/segments/regular", {"name": "Regular", "condition": "member.orders_365d >= 3"})
    enroll(api, program, "m1", country="DE")

    api.post(f"{P}/members/m1/orders", order("o-1", "60.25", "2026-10-02T10:00:00+00:00"))
    api.post(f"{P}/members/m1/orders", order("o-2", "40", "2026-11-20T10:00:00+00:00"))
    api.post(
        f"{P}/members/m1/activities",
        {"activity_id": "a-1", "activity_type": "review", "occurred_at": "2026-11-21T10:00:00+00:00"},
    )
    view = api.get(f"{P}/members/m1").body

    assert view["spend_365d"] == {"amount": 100.25, "currency": "EUR"}
    assert view["orders_365d"] == 2  # the activity is no order
    assert view["lifetime_points"] == 60 + 40 + 25
    assert view["segments"] == ["big", "de"]
    assert view["days_since_enrollment"] == 0 and view["birthday_today"] is False
    # A year on, the spend has left the window and with it the segment.
    clock.advance(days=400)
    later = api.get(f"{P}/members/m1").body
    assert (later["spend_365d"]["amount"], later["orders_365d"], later["segments"]) == (0.0, 0, ["de"])
    assert later["days_since_enrollment"] == 400


def test_a_reward_for_a_segment_is_redeemable_once_the_member_is_in_it(api: Api, program: str) -> None:
    api.put(f"{P}/segments/vip", {"name": "VIP", "condition": "member.spend_365d >= 500.0"})
    answer = api.put(
        f"{P}/rewards/lounge",
        {"name": "Lounge", "type": "product", "cost": 50, "eligibility": '"vip" in member.segments'},
    )
    assert answer.status == 201, answer.body
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 100))

    refused = api.post(f"{P}/members/m1/redemptions", {"reward_id": "lounge"}, headers={"Idempotency-Key": "k1"})
    listed = {r["reward_id"]: r for r in api.get(f"{P}/members/m1/rewards").body["rewards"]}
    assert (refused.status, refused.error_code) == (403, "not_eligible")
    assert listed["lounge"]["reason"] == "not_eligible"

    api.post(f"{P}/members/m1/orders", order("o-2", 400))
    redeemed = api.post(f"{P}/members/m1/redemptions", {"reward_id": "lounge"}, headers={"Idempotency-Key": "k2"})
    assert redeemed.status == 201, redeemed.body
    assert api.get(f"{P}/members/m1").body["segments"] == ["vip"]


# --- velocity caps --------------------------------------------------------------------------------


def test_an_earn_past_the_hourly_cap_is_refused_changes_nothing_and_flags_the_member(
    api: Api, program: str, store: LoyaltyStore, clock
) -> None:
    _with_fraud(api, max_earns_per_hour=2)
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 10))
    api.post(
        f"{P}/members/m1/activities",
        {"activity_id": "a-1", "activity_type": "review", "occurred_at": "2026-11-20T10:00:00+00:00"},
    )
    before = store.get_member(program, "m1")

    refused = api.post(f"{P}/members/m1/orders", order("o-2", 10))

    assert (refused.status, refused.error_code) == (409, "limit_reached")
    assert refused.body["error"]["details"] == {"cap": "max_earns_per_hour", "limit": 2, "used": 2}
    after = store.get_member(program, "m1")
    assert after is not None and before is not None
    assert (after.balance, after.version, after.velocity, after.spend, after.orders) == (
        before.balance,
        before.version,
        before.velocity,
        before.spend,
        before.orders,
    )
    assert len(_entries(store, "m1")) == 2
    assert ledger_invariant(store, program, "m1")["balance"] == 35
    assert after.flags == ["velocity"]
    # The next hour the same order goes through (the refusal did not burn its id).
    clock.advance(hours=1)
    assert api.post(f"{P}/members/m1/orders", order("o-2", 10)).status == 201


def test_an_earn_that_would_pass_the_daily_points_cap_is_refused(api: Api, program: str, store: LoyaltyStore) -> None:
    _with_fraud(api, max_points_per_day=100)
    enroll(api, program, "m1")
    assert api.post(f"{P}/members/m1/orders", order("o-1", 80)).status == 201

    refused = api.post(f"{P}/members/m1/orders", order("o-2", 21))
    fits = api.post(f"{P}/members/m1/orders", order("o-3", 20))

    assert (refused.status, refused.error_code) == (409, "limit_reached")
    assert refused.body["error"]["details"]["cap"] == "max_points_per_day"
    assert fits.status == 201
    assert ledger_invariant(store, program, "m1")["balance"] == 100


def test_flags_are_shown_to_admins_and_not_to_the_member(api: Api, program: str) -> None:
    _with_fraud(api, max_earns_per_hour=1)
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 10))
    assert api.get(f"{P}/members/m1").body["flags"] == []

    assert api.post(f"{P}/members/m1/orders", order("o-2", 10)).status == 409
    assert api.post(f"{P}/members/m1/orders", order("o-3", 10)).status == 409

    assert api.get(f"{P}/members/m1").body["flags"] == ["velocity"]  # once, however often refused
    me = api.get("/v1/me", member=(program, "m1"))
    assert me.status == 200 and "flags" not in me.body
    assert me.body["segments"] == [] and me.body["orders_365d"] == 1


def test_a_replayed_earn_is_answered_even_when_the_cap_is_reached(api: Api, program: str) -> None:
    _with_fraud(api, max_earns_per_hour=1)
    enroll(api, program, "m1")
    first = api.post(f"{P}/members/m1/orders", order("o-1", 10))

    replay = api.post(f"{P}/members/m1/orders", order("o-1", 10))

    assert (first.status, replay.status) == (201, 200)
    assert replay.body == first.body
    assert api.get(f"{P}/members/m1").body["flags"] == []


def test_200_concurrent_earns_against_50_an_hour_credit_exactly_50(
    api: Api, program: str, store: LoyaltyStore, runtime: Runtime
) -> None:
    _with_fraud(api, max_earns_per_hour=50)
    enroll(api, program, "m1")

    with ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(lambda n: earn_directly(runtime, "m1", order(f"o-{n}", 3)), range(200)))

    credited = [a for a in answers if a.status == 201]
    assert len(credited) == 50
    # Refused by the cap, or (409 conflict) told to retry after losing too many races: never credited.
    assert {a.error_code for a in answers if a.status != 201} <= {"limit_reached", "conflict"}
    assert len(_entries(store, "m1")) == 50
    assert ledger_invariant(store, program, "m1")["balance"] == 150
    member = store.get_member(program, "m1")
    assert member is not None and member.orders_365d(runtime.now()) == 50
    assert member.flags == ["velocity"]


# --- one member per mailbox -----------------------------------------------------------------------


def _enroll(api: Api, member_id: str, email: str) -> Any:
    return api.post(f"{P}/members", {"member_id": member_id, "email": email})


def test_a_second_enrollment_for_the_same_mailbox_is_refused(api: Api, program: str, store: LoyaltyStore) -> None:
    assert _enroll(api, "m1", "Ann.Lee@gmail.com").status == 201

    plus = _enroll(api, "m2", "annlee+welcome@gmail.com")
    dots = _enroll(api, "m3", "a.n.n.l.e.e@googlemail.com")
    exact = _enroll(api, "m4", "ann.lee@GMAIL.com")

    for refused in (plus, dots):
        assert (refused.status, refused.error_code) == (409, "member_exists")
        assert refused.body["error"]["details"] == {"fields": ["email"], "match": "same_mailbox"}
    assert (exact.status, exact.error_code) == (409, "member_exists")
    assert exact.body["error"]["details"] == {"fields": ["email"]}
    assert all(store.get_member(program, m) is None for m in ("m2", "m3", "m4"))


def test_plus_addresses_of_an_unknown_domain_are_different_members(api: Api, program: str) -> None:
    assert _enroll(api, "m1", "shop@example.com").status == 201
    assert _enroll(api, "m2", "shop+eu@example.com").status == 201


def test_a_mailbox_is_released_by_erasure_and_guarded_on_a_change_of_email(api: Api, program: str) -> None:
    assert _enroll(api, "m1", "bob@gmail.com").status == 201
    assert _enroll(api, "m2", "carol@gmail.com").status == 201

    moved = api.call("PATCH", f"{P}/members/m2", {"email": "b.o.b+x@gmail.com"})
    own = api.call("PATCH", f"{P}/members/m1", {"email": "bob+new@gmail.com"})  # the same mailbox, the same member

    assert (moved.status, moved.error_code) == (409, "member_exists")
    assert moved.body["error"]["details"]["match"] == "same_mailbox"
    assert own.status == 200 and own.body["email"] == "bob+new@gmail.com"
    assert api.call("DELETE", f"{P}/members/m1").status == 200
    assert _enroll(api, "m3", "bob@gmail.com").status == 201
