"""Enrollment, profile, erasure, export and the member's own view."""

from __future__ import annotations

from loyalty.store.store import LoyaltyStore
from tests.helpers import Api
from tests.integration.conftest import enroll, order


def test_enrollment_gives_the_entry_tier_and_a_zero_balance(api: Api, program: str) -> None:
    member = enroll(api, program, "m1", first_name="Ada", phone="030 1234567", country="DE")

    assert member["tier"] == "bronze"
    assert member["balance"] == 0
    assert member["phone"] == "+49301234567"
    assert member["status"] == "active"


def test_email_is_unique_after_normalisation(api: Api, program: str) -> None:
    enroll(api, program, "m1")

    again = api.post(f"/v1/programs/{program}/members", {"member_id": "m2", "email": "  M1@Example.COM "})

    assert again.status == 409
    assert again.error_code == "member_exists"
    assert again.body["error"]["details"]["fields"] == ["email"]
    assert api.get(f"/v1/programs/{program}/members/m2").status == 404


def test_phone_is_unique_in_e164_form(api: Api, program: str) -> None:
    enroll(api, program, "m1", phone="+49 30 1234567")

    again = api.post(
        f"/v1/programs/{program}/members",
        {"member_id": "m2", "email": "other@example.com", "phone": "030/1234567", "country": "DE"},
    )

    assert again.status == 409
    assert again.body["error"]["details"]["fields"] == ["phone"]


def test_a_retried_enrollment_returns_the_member(api: Api, program: str) -> None:
    first = enroll(api, program, "m1")
    retry = api.post(f"/v1/programs/{program}/members", {"member_id": "m1", "email": "m1@example.com"})

    assert retry.status == 200
    assert retry.body["member_id"] == first["member_id"]


def test_the_member_view_shows_points_expiring_within_30_days(api: Api, program: str, clock) -> None:
    enroll(api, program, "m1")
    api.post(f"/v1/programs/{program}/members/m1/orders", order("old", 40, "2025-12-10T10:00:00+00:00"))
    api.post(f"/v1/programs/{program}/members/m1/orders", order("new", 60, "2026-11-20T10:00:00+00:00"))

    view = api.get(f"/v1/programs/{program}/members/m1").body

    assert view["balance"] == 100
    assert view["expiring_soon"]["points"] == 40
    assert view["expiring_soon"]["next_expiry"].startswith("2026-12-10")


def test_patch_changes_profile_attributes_and_consents(api: Api, program: str) -> None:
    enroll(api, program, "m1", attributes={"store": "berlin"})

    patched = api.call(
        "PATCH",
        f"/v1/programs/{program}/members/m1",
        {"first_name": "Grace", "attributes": {"size": "M"}, "consents": {"marketing_email": True}, "email": "G@x.io"},
    )

    assert patched.status == 200, patched.body
    assert patched.body["first_name"] == "Grace"
    assert patched.body["attributes"] == {"store": "berlin", "size": "M"}
    assert patched.body["consents"]["marketing_email"] is True
    assert patched.body["email"] == "g@x.io"
    # The old address is free again, the new one is taken.
    assert api.post(f"/v1/programs/{program}/members", {"member_id": "m2", "email": "m1@example.com"}).status == 201
    assert api.post(f"/v1/programs/{program}/members", {"member_id": "m3", "email": "g@x.io"}).status == 409


def test_erasure_removes_personal_data_and_keeps_ledger_amounts(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1", first_name="Ada", phone="+4930123456", birthday="1990-05-01")
    api.post(f"/v1/programs/{program}/members/m1/orders", order("o-1", 120))

    erased = api.call("DELETE", f"/v1/programs/{program}/members/m1")

    assert erased.status == 200
    view = api.get(f"/v1/programs/{program}/members/m1").body
    assert view["status"] == "erased"
    assert all(view[name] is None for name in ("email", "phone", "first_name", "birthday"))
    assert view["balance"] == 120
    everything = str(store.member_items(program, "m1"))
    assert "Ada" not in everything and "m1@example.com" not in everything and "4930123456" not in everything
    transactions = api.get(f"/v1/programs/{program}/members/m1/transactions").body["transactions"]
    assert [t["points"] for t in transactions] == [120]
    # The email can enroll again, as a new member.
    assert api.post(f"/v1/programs/{program}/members", {"member_id": "m9", "email": "m1@example.com"}).status == 201
    # An erased member earns nothing more.
    assert api.post(f"/v1/programs/{program}/members/m1/orders", order("o-2", 10)).status == 409


def test_export_holds_profile_transactions_and_lots(api: Api, program: str) -> None:
    enroll(api, program, "m1", first_name="Ada")
    api.post(f"/v1/programs/{program}/members/m1/orders", order("o-1", 300))
    api.post(
        f"/v1/programs/{program}/members/m1/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k"}
    )

    export = api.get(f"/v1/programs/{program}/members/m1/export").body

    assert export["member"]["first_name"] == "Ada"
    assert sorted(t["kind"] for t in export["transactions"]) == ["earn", "redeem"]
    assert export["lots"][0]["remaining"] == 200


def test_me_reads_the_member_of_the_token(api: Api, program: str) -> None:
    enroll(api, program, "m1")
    enroll(api, program, "m2")
    api.post(f"/v1/programs/{program}/members/m2/orders", order("o-1", 300))

    me = api.get("/v1/me", member=(program, "m2"))
    mine = api.get("/v1/me/transactions", member=(program, "m2"))

    assert me.status == 200 and me.body["member_id"] == "m2" and me.body["balance"] == 300
    assert [t["points"] for t in mine.body["transactions"]] == [300]


def test_me_refuses_requests_without_a_token_and_erased_members(api: Api, program: str) -> None:
    enroll(api, program, "m1")
    api.call("DELETE", f"/v1/programs/{program}/members/m1")

    assert api.get("/v1/me").status == 401  # an IAM caller is not a member
    assert api.get("/v1/me", member=(program, "m1")).status == 403
    assert api.get("/v1/me/rewards", member=(program, "m1")).status == 403
