"""The rewards catalog through the handlers: values per type, why a reward is unavailable, period limits,
exclusivity groups at the till, and the QR code of a redemption."""

from __future__ import annotations

from typing import Any

from loyalty.store.store import LoyaltyStore
from tests.helpers import Answer, Api, ledger_invariant
from tests.integration.conftest import enroll, order

P = "/v1/programs/acme"


def redeem(api: Api, member_id: str, key: str, reward_id: str, **extra: Any) -> Answer:
    return api.post(
        f"{P}/members/{member_id}/redemptions", {"reward_id": reward_id, **extra}, headers={"Idempotency-Key": key}
    )


def listed(api: Api, member_id: str) -> dict[str, dict[str, Any]]:
    return {r["reward_id"]: r for r in api.get(f"{P}/members/{member_id}/rewards").body["rewards"]}


def put_reward(api: Api, reward_id: str, **body: Any) -> None:
    answer = api.put(f"{P}/rewards/{reward_id}", {"name": reward_id, "type": "product", "cost": 10, **body})
    assert answer.status in (200, 201), answer.body


def test_a_reward_whose_value_does_not_fit_its_type_is_refused_when_saved(api: Api, program: str) -> None:
    both = api.put(
        f"{P}/rewards/bad", {"name": "Bad", "type": "discount", "cost": 10, "value": {"percent": 5, "amount": 5}}
    )
    no_rate = api.put(f"{P}/rewards/bad", {"name": "Bad", "type": "cashback", "cost": 10})

    assert (both.status, both.error_code) == (422, "validation_error")
    assert (no_rate.status, no_rate.error_code) == (422, "validation_error")
    assert "bad" not in listed_after_enroll(api, program)


def listed_after_enroll(api: Api, program: str) -> dict[str, dict[str, Any]]:
    enroll(api, program, "viewer")
    return listed(api, "viewer")


def test_the_rewards_list_says_for_each_reward_why_the_member_cannot_redeem_it_now(
    api: Api, program: str, store: LoyaltyStore, clock
) -> None:
    put_reward(api, "gold-only", eligibility='member.tier == "gold"')
    put_reward(api, "once", limits={"per_member": 1})
    put_reward(api, "monthly", limits={"per_member": 1, "per_member_period_days": 30})
    put_reward(api, "first-one", limits={"total": 1})
    put_reward(api, "last-mug", stock=1)
    put_reward(api, "budget", limits={"points_budget": 15})
    put_reward(api, "off", active=False)
    put_reward(api, "later", valid_from="2027-01-01T00:00:00+00:00")
    put_reward(api, "pricey", cost=10_000)
    enroll(api, program, "m1")
    enroll(api, program, "m2")
    api.post(f"{P}/members/m1/orders", order("o-1", 200))
    api.post(f"{P}/members/m2/orders", order("o-1", 200))
    clock.advance(seconds=10)  # past the program cache
    for reward_id in ("once", "monthly", "first-one", "last-mug", "budget"):
        assert redeem(api, "m2", f"k-{reward_id}", reward_id).status == 201

    mine, theirs = listed(api, "m1"), listed(api, "m2")

    reasons = {reward_id: entry["reason"] for reward_id, entry in mine.items()}
    assert reasons == {
        "coffee": None,
        "gold-only": "not_eligible",
        "once": None,
        "monthly": None,
        "first-one": "limit_reached",
        "last-mug": "out_of_stock",
        "budget": "limit_reached",
        "off": "reward_inactive",
        "later": "reward_inactive",
        "pricey": "insufficient_points",
    }
    assert all(entry["available"] == (entry["reason"] is None) for entry in mine.values())
    assert theirs["once"]["reason"] == "limit_reached" and theirs["monthly"]["reason"] == "limit_reached"
    # What the list says is what a redemption gets.
    for reward_id, reason in reasons.items():
        if reason is not None:
            assert redeem(api, "m1", f"try-{reward_id}", reward_id).error_code == reason, reward_id
    assert redeem(api, "m2", "again-once", "once").error_code == "limit_reached"
    for member_id in ("m1", "m2"):
        ledger_invariant(store, program, member_id)


def test_each_rewards_value_is_shown_in_the_list_and_in_the_redemption(api: Api, program: str) -> None:
    put_reward(api, "ten-pct", type="discount", value={"percent": 10})
    put_reward(api, "card", type="gift_card", value={"amount": 25, "currency": "EUR"})
    put_reward(api, "ship", type="free_shipping", exclusivity_group="shipping")
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 100))

    rewards = listed(api, "m1")
    card = redeem(api, "m1", "k1", "card")

    assert rewards["ten-pct"]["value"] == {"percent": "10"}
    assert rewards["card"]["value"] == {"amount": "25", "currency": "EUR"}
    assert rewards["ship"]["value"] is None and rewards["ship"]["exclusivity_group"] == "shipping"
    assert card.status == 201 and card.body["value"] == {"amount": "25", "currency": "EUR"}


def test_pay_with_points_turns_the_chosen_points_into_money_at_the_rate(
    api: Api, program: str, store: LoyaltyStore
) -> None:
    value = {"amount_per_point": "0.01", "currency": "EUR", "max_points": 500, "step_points": 50}
    put_reward(api, "pay", type="cashback", cost=100, value=value)
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 400))

    paid = redeem(api, "m1", "k1", "pay", points=250)
    default = redeem(api, "m1", "k2", "pay")
    off_step = redeem(api, "m1", "k3", "pay", points=120)
    too_many = redeem(api, "m1", "k4", "pay", points=550)
    not_cashback = redeem(api, "m1", "k5", "coffee", points=100)
    replay = redeem(api, "m1", "k1", "pay", points=250)

    assert paid.status == 201, paid.body
    assert (paid.body["points"], paid.body["value"]) == (250, {"amount": "2.50", "currency": "EUR", "points": 250})
    assert (default.body["points"], default.body["value"]["amount"]) == (100, "1.00")
    assert off_step.status == 422 and off_step.body["error"]["details"] == {
        "field": "points",
        "min": 100,
        "max": 500,
        "step": 50,
    }
    assert (too_many.status, not_cashback.status) == (422, 422)
    assert replay.status == 200 and replay.body == paid.body
    assert listed(api, "m1")["pay"]["value"] == value | {"amount_per_point": "0.01"}
    assert ledger_invariant(store, program, "m1")["balance"] == 50


def test_one_per_30_days_is_refused_inside_the_window_and_allowed_after_it(
    api: Api, program: str, store: LoyaltyStore, clock
) -> None:
    put_reward(api, "monthly", limits={"per_member": 1, "per_member_period_days": 30})
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 100))

    first = redeem(api, "m1", "k1", "monthly")
    clock.advance(days=29, hours=23)
    refused = redeem(api, "m1", "k2", "monthly")
    listed_inside = listed(api, "m1")["monthly"]["reason"]
    clock.advance(hours=1)
    allowed = redeem(api, "m1", "k3", "monthly")

    assert first.status == 201 and allowed.status == 201
    assert (refused.status, refused.error_code) == (409, "limit_reached")
    assert refused.body["error"]["details"] == {"reward_id": "monthly", "limit": 1, "period_days": 30}
    assert listed_inside == "limit_reached"
    assert listed(api, "m1")["monthly"]["reason"] == "limit_reached"
    ledger_invariant(store, program, "m1")


def test_one_code_of_an_exclusivity_group_per_order(api: Api, program: str, store: LoyaltyStore) -> None:
    put_reward(api, "five-off", type="discount", value={"amount": 5, "currency": "EUR"}, exclusivity_group="discounts")
    put_reward(api, "ten-pct", type="discount", value={"percent": 10}, exclusivity_group="discounts")
    put_reward(api, "ship", type="free_shipping", exclusivity_group="shipping")
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 100))
    five, ten, ten_again, ship = (
        redeem(api, "m1", key, reward_id).body["code"]
        for key, reward_id in (("a", "five-off"), ("b", "ten-pct"), ("c", "ten-pct"), ("d", "ship"))
    )

    used = api.post(f"{P}/codes/{five}/consume", {"order_id": "basket-1"})
    replayed = api.post(f"{P}/codes/{five.lower()}/consume", {"order_id": "basket-1"})
    conflict = api.post(f"{P}/codes/{ten}/consume", {"order_id": "basket-1"})
    other_group = api.post(f"{P}/codes/{ship}/consume", {"order_id": "basket-1"})
    other_order = api.post(f"{P}/codes/{ten}/consume", {"order_id": "basket-2"})
    no_order = api.post(f"{P}/codes/{ten_again}/consume", {})
    no_order_again = api.post(f"{P}/codes/{ten_again}/consume", {})

    assert used.status == 200 and used.body["exclusivity_group"] == "discounts"
    assert replayed.status == 200 and replayed.body == used.body
    assert (conflict.status, conflict.error_code) == (409, "exclusive_conflict")
    assert conflict.body["error"]["details"] == {
        "code": ten,
        "order_id": "basket-1",
        "exclusivity_group": "discounts",
        "redemption_id": used.body["redemption_id"],
    }
    assert other_group.status == 200
    assert other_order.status == 200, "the refused code stayed unused"
    assert no_order.status == 200
    assert (no_order_again.status, no_order_again.error_code) == (409, "invalid_state")


def test_the_redemption_carries_its_code_as_qr_text_and_image(api: Api, program: str) -> None:
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 100))

    redeemed = redeem(api, "m1", "k1", "coffee")
    replay = redeem(api, "m1", "k1", "coffee")

    code = redeemed.body["code"]
    assert redeemed.body["qr_payload"] == f"loyalty:acme:{code}"
    assert redeemed.body["qr_svg"].startswith("data:image/svg+xml")
    assert replay.body["qr_svg"] == redeemed.body["qr_svg"]
    # The text a scanner reads back is the code the till consumes.
    scanned = redeemed.body["qr_payload"].rsplit(":", 1)[1]
    assert api.post(f"{P}/codes/{scanned}/consume", {"order_id": "pos-1"}).status == 200


def test_a_cancelled_redemption_leaves_its_period_window(api: Api, program: str, store: LoyaltyStore, clock) -> None:
    put_reward(api, "monthly", limits={"per_member": 1, "per_member_period_days": 30})
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 100))
    first = redeem(api, "m1", "k1", "monthly").body

    clock.advance(days=1)
    cancelled = api.post(f"{P}/members/m1/redemptions/{first['redemption_id']}/cancel")
    again = redeem(api, "m1", "k2", "monthly")
    third = redeem(api, "m1", "k3", "monthly")

    assert cancelled.status == 201
    assert again.status == 201
    assert (third.status, third.error_code) == (409, "limit_reached")
    ledger_invariant(store, program, "m1")
