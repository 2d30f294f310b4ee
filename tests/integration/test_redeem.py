"""Redemption: soonest-expiring lots first, limits, cancel, codes, ledger and lots listing."""

from __future__ import annotations

from loyalty.store.store import LoyaltyStore
from tests.helpers import Api, ledger_invariant
from tests.integration.conftest import enroll, order

P = "/v1/programs/acme"


def redeem(api: Api, member_id: str, key: str, reward_id: str = "coffee", **extra) -> object:
    return api.post(
        f"{P}/members/{member_id}/redemptions", {"reward_id": reward_id, **extra}, headers={"Idempotency-Key": key}
    )


def test_redemption_spends_the_soonest_expiring_lots_first(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("late", 80, "2026-11-20T10:00:00+00:00"))
    api.post(f"{P}/members/m1/orders", order("early", 60, "2026-01-05T10:00:00+00:00"))

    redeemed = redeem(api, "m1", "k1")

    assert redeemed.status == 201, redeemed.body
    early, late = redeemed.body["lots"]
    assert early["points"] == 60 and late["points"] == 40
    lots = api.get(f"{P}/members/m1/lots").body["lots"]
    assert [(lot["source"], lot["remaining"]) for lot in lots] == [("order#late", 40)]
    assert redeemed.body["balance"] == 40
    assert len(redeemed.body["code"]) == 19
    ledger_invariant(store, program, "m1")


def test_not_enough_points_is_refused_and_changes_nothing(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 99))

    refused = redeem(api, "m1", "k1")

    assert refused.status == 422
    assert refused.error_code == "insufficient_points"
    assert refused.body["error"]["details"] == {"required": 100, "available": 99}
    assert ledger_invariant(store, program, "m1")["balance"] == 99


def test_a_replayed_redemption_returns_the_same_code_once(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 150))

    first = redeem(api, "m1", "k1")
    replay = redeem(api, "m1", "k1")  # now the balance (50) could not pay again: still the first answer
    conflict = redeem(api, "m1", "k1", quantity=2)

    assert (first.status, replay.status) == (201, 200)
    assert replay.body == first.body
    assert conflict.status == 409 and conflict.error_code == "idempotency_conflict"
    assert ledger_invariant(store, program, "m1")["balance"] == 50


def test_a_redemption_needs_an_idempotency_key(api: Api, program: str) -> None:
    enroll(api, program, "m1")
    answer = api.post(f"{P}/members/m1/redemptions", {"reward_id": "coffee"})
    assert answer.status == 422 and answer.body["error"]["details"]["field"] == "Idempotency-Key"


def test_reward_limits_stock_and_kill_switch(api: Api, program: str, store: LoyaltyStore, clock) -> None:
    api.put(f"{P}/rewards/mug", {"name": "Mug", "type": "product", "cost": 10, "stock": 2, "limits": {"per_member": 1}})
    for member_id in ("m1", "m2", "m3"):
        enroll(api, program, member_id)
        api.post(f"{P}/members/{member_id}/orders", order("o-1", 100))

    assert redeem(api, "m1", "a", "mug").status == 201
    second = redeem(api, "m1", "b", "mug")
    assert (second.status, second.error_code) == (409, "limit_reached")
    assert redeem(api, "m2", "a", "mug").status == 201
    sold_out = redeem(api, "m3", "a", "mug")
    assert (sold_out.status, sold_out.error_code) == (409, "out_of_stock")

    api.put(f"{P}/rewards/coffee", {"name": "Coffee", "type": "product", "cost": 100, "active": False})
    clock.advance(seconds=1)
    inactive = redeem(api, "m3", "b")
    assert (inactive.status, inactive.error_code) == (409, "reward_inactive")
    listed = {r["reward_id"]: r for r in api.get(f"{P}/members/m3/rewards").body["rewards"]}
    assert listed["mug"]["reason"] == "out_of_stock" and listed["coffee"]["reason"] == "reward_inactive"
    for member_id in ("m1", "m2", "m3"):
        ledger_invariant(store, program, member_id)


def test_tier_prices_apply(api: Api, program: str) -> None:
    api.put(f"{P}/rewards/lounge", {"name": "Lounge", "type": "product", "cost": 1000, "tier_costs": {"silver": 400}})
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 500))  # reaches silver

    redeemed = redeem(api, "m1", "k", "lounge")

    assert redeemed.status == 201 and redeemed.body["points"] == 400


def test_cancel_gives_the_points_back_to_the_same_lots(api: Api, program: str, store: LoyaltyStore) -> None:
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("a", 60, "2026-02-01T00:00:00+00:00"))
    api.post(f"{P}/members/m1/orders", order("b", 60, "2026-03-01T00:00:00+00:00"))
    redemption = redeem(api, "m1", "k").body

    cancelled = api.post(f"{P}/members/m1/redemptions/{redemption['redemption_id']}/cancel")
    again = api.post(f"{P}/members/m1/redemptions/{redemption['redemption_id']}/cancel")

    assert cancelled.status == 201 and cancelled.body["balance"] == 120
    assert again.status == 200 and again.body == cancelled.body
    lots = api.get(f"{P}/members/m1/lots").body["lots"]
    assert [(lot["source"], lot["remaining"]) for lot in lots] == [("order#a", 60), ("order#b", 60)]
    kinds = [t["kind"] for t in api.get(f"{P}/members/m1/transactions").body["transactions"]]
    assert kinds == ["cancel", "redeem", "earn", "earn"]
    # A cancelled redemption's code cannot be used.
    used = api.post(f"{P}/codes/{redemption['code']}/consume", {})
    assert (used.status, used.error_code) == (409, "invalid_state")
    ledger_invariant(store, program, "m1")


def test_a_code_is_used_once_and_then_cannot_be_cancelled(api: Api, program: str) -> None:
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 100))
    redemption = redeem(api, "m1", "k").body

    used = api.post(f"{P}/codes/{redemption['code']}/consume", {"order_id": "pos-1"})
    retried = api.post(f"{P}/codes/{redemption['code']}/consume", {"order_id": "pos-1"})
    second = api.post(f"{P}/codes/{redemption['code']}/consume", {"order_id": "pos-2"})
    unknown = api.post(f"{P}/codes/AAAA-BBBB-CCCC-DDDD/consume", {})
    cancel = api.post(f"{P}/members/m1/redemptions/{redemption['redemption_id']}/cancel")

    assert used.status == 200 and used.body["member_id"] == "m1" and used.body["reward_id"] == "coffee"
    assert retried.status == 200
    assert (second.status, second.error_code) == (409, "invalid_state")
    assert unknown.status == 404
    assert (cancel.status, cancel.error_code) == (409, "invalid_state")


def test_transactions_page_newest_first(api: Api, program: str, clock) -> None:
    enroll(api, program, "m1")
    for n in range(5):
        clock.advance(seconds=1)
        api.post(f"{P}/members/m1/orders", order(f"o-{n}", 10 + n))

    first = api.get(f"{P}/members/m1/transactions", query={"limit": "3"}).body
    second = api.get(f"{P}/members/m1/transactions", query={"limit": "3", "cursor": first["cursor"]}).body

    assert [t["points"] for t in first["transactions"]] == [14, 13, 12]
    assert [t["points"] for t in second["transactions"]] == [11, 10]
    assert second["cursor"] is None
    assert api.get(f"{P}/members/m1/transactions", query={"cursor": "%%%"}).status == 422


def test_member_self_service_redeems_for_the_token_member_only(api: Api, program: str) -> None:
    enroll(api, program, "m1")
    enroll(api, program, "m2")
    api.post(f"{P}/members/m1/orders", order("o-1", 100))

    mine = api.post(
        "/v1/me/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k"}, member=(program, "m1")
    )
    other = api.post(
        "/v1/me/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k"}, member=(program, "m2")
    )
    rewards = api.get("/v1/me/rewards", member=(program, "m2")).body

    assert mine.status == 201
    assert (other.status, other.error_code) == (422, "insufficient_points")
    assert rewards["member_id"] == "m2"


def test_an_eligibility_condition_is_checked_when_saved_and_enforced(api: Api, program: str) -> None:
    gold_only = {"name": "Gold coffee", "type": "product", "cost": 10, "eligibility": 'member.tier == "gold"'}
    assert api.put(f"{P}/rewards/gold-coffee", gold_only).status == 201
    broken = api.put(f"{P}/rewards/broken", {**gold_only, "eligibility": 'customer.tier == "gold"'})
    assert (broken.status, broken.error_code) == (422, "validation_error")
    assert broken.body["error"]["details"]["unknown"] == ["customer"]
    enroll(api, program, "m1")
    api.post(f"{P}/members/m1/orders", order("o-1", 100))

    refused = redeem(api, "m1", "k1", "gold-coffee")
    listed = {r["reward_id"]: r for r in api.get(f"{P}/members/m1/rewards").body["rewards"]}
    api.post(f"{P}/members/m1/orders", order("o-2", 2000))  # reaches gold
    allowed = redeem(api, "m1", "k2", "gold-coffee")

    assert (refused.status, refused.error_code) == (403, "not_eligible")
    assert listed["gold-coffee"]["reason"] == "not_eligible"
    assert allowed.status == 201
