"""Earning for orders and activities: arithmetic, lots, tiers, exactly once."""

from __future__ import annotations

from loyalty.store.store import LoyaltyStore
from tests.helpers import Api, ledger_invariant
from tests.integration.conftest import PROGRAM, enroll, order


def test_an_order_earns_floor_of_amount_times_rate_and_opens_a_lot(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1")

    earned = api.post(f"/v1/programs/{program}/members/m1/orders", order("o-1", "99.99", "2026-11-01T09:30:00+01:00"))

    assert earned.status == 201
    assert earned.body["points"] == 99
    assert earned.body["balance"] == 99
    assert earned.body["applied_rules"] == [{"rule_id": "base_rate", "points": 99}]
    # Rolling 365 days from when the sale happened, not from when it was uploaded.
    assert earned.body["lot"]["expires_at"] == "2027-11-01T08:30:00+00:00"
    lots = api.get(f"/v1/programs/{program}/members/m1/lots").body["lots"]
    assert [(lot["points"], lot["remaining"]) for lot in lots] == [(99, 99)]
    ledger_invariant(store, program, "m1")


def test_the_tier_multiplier_applies_and_tiers_rise_when_a_threshold_is_crossed(api: Api, program: str) -> None:
    enroll(api, program, "m1")

    first = api.post(f"/v1/programs/{program}/members/m1/orders", order("o-1", 600))
    second = api.post(f"/v1/programs/{program}/members/m1/orders", order("o-2", 100))

    assert first.body["points"] == 600 and first.body["tier"] == "silver"
    assert second.body["points"] == 150  # silver earns x1.5
    assert api.get(f"/v1/programs/{program}/members/m1").body["tier"] == "silver"


def test_earn_rate_and_rounding_come_from_the_program(api: Api) -> None:
    api.put("/v1/programs/p", {**PROGRAM, "earn_rate": {"points": 3, "per_amount": 2}, "rounding": "ceil"})
    enroll(api, "p", "m1")

    earned = api.post("/v1/programs/p/members/m1/orders", order("o-1", "10.10"))

    assert earned.body["points"] == 16  # ceil(10.10 * 3 / 2) = ceil(15.15)


def test_a_replayed_order_returns_the_first_result_and_changes_nothing(
    api: Api, program: str, store: LoyaltyStore
) -> None:
    enroll(api, program, "m1")
    first = api.post(f"/v1/programs/{program}/members/m1/orders", order("o-1", 50))

    replay = api.post(f"/v1/programs/{program}/members/m1/orders", order("o-1", 50))

    assert replay.status == 200
    assert replay.body == first.body
    assert ledger_invariant(store, program, "m1")["balance"] == 50


def test_the_same_order_id_with_another_payload_is_a_conflict(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1")
    api.post(f"/v1/programs/{program}/members/m1/orders", order("o-1", 50))

    other = api.post(f"/v1/programs/{program}/members/m1/orders", order("o-1", 500))

    assert other.status == 409
    assert other.error_code == "idempotency_conflict"
    assert ledger_invariant(store, program, "m1")["balance"] == 50


def test_an_activity_earns_the_points_configured_for_its_type(api: Api, program: str) -> None:
    enroll(api, program, "m1")
    body = {"activity_id": "a-1", "type": "newsletter", "occurred_at": "2026-11-20T10:00:00Z"}

    earned = api.post(f"/v1/programs/{program}/members/m1/activities", body)
    unknown = api.post(f"/v1/programs/{program}/members/m1/activities", {**body, "activity_id": "a-2", "type": "dance"})

    assert earned.status == 201 and earned.body["points"] == 50
    assert unknown.status == 422 and unknown.error_code == "validation_error"


def test_pending_points_are_not_in_the_balance_until_available(api: Api, clock) -> None:
    api.put("/v1/programs/p", {**PROGRAM, "pending_days": 14})
    enroll(api, "p", "m1")

    earned = api.post("/v1/programs/p/members/m1/orders", order("o-1", 80, "2026-11-20T10:00:00+00:00"))

    assert earned.body["balance"] == 0 and earned.body["pending"] == 80
    assert earned.body["lot"]["available_at"] == "2026-12-04T10:00:00+00:00"
    view = api.get("/v1/programs/p/members/m1").body
    assert (view["balance"], view["pending"]) == (0, 80)
    refused = api.post("/v1/programs/p/members/m1/redemptions", {"reward_id": "x"}, headers={"Idempotency-Key": "k"})
    assert refused.status == 404  # no such reward; and pending points could not pay for one anyway


def test_never_expiring_programs_open_lots_without_expiry(api: Api) -> None:
    api.put("/v1/programs/p", {**PROGRAM, "expiry": {"policy": "never"}})
    enroll(api, "p", "m1")

    earned = api.post("/v1/programs/p/members/m1/orders", order("o-1", 10))

    assert earned.body["lot"]["expires_at"] is None


def test_a_gold_tier_expiry_override_lengthens_lot_life(api: Api, program: str) -> None:
    api.put(
        f"/v1/programs/{program}/tiers/gold",
        {"name": "Gold", "threshold": 2000, "earn_multiplier": 2, "expiry_days": 540},
    )
    enroll(api, program, "m1")
    api.post(f"/v1/programs/{program}/members/m1/orders", order("o-1", 2500))

    later = api.post(f"/v1/programs/{program}/members/m1/orders", order("o-2", 10, "2026-11-21T00:00:00+00:00"))

    assert later.body["tier"] == "gold"
    assert later.body["lot"]["expires_at"] == "2028-05-14T00:00:00+00:00"  # 540 days, across 29 Feb 2028
