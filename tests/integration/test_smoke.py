from __future__ import annotations

from tests.helpers import Api, ledger_invariant
from tests.integration.conftest import enroll, order


def test_enroll_earn_redeem(api: Api, program: str, store) -> None:
    enroll(api, program, "m1")
    earned = api.post(f"/v1/programs/{program}/members/m1/orders", order("o-1", "250.75"))
    assert earned.status == 201, earned.body
    assert earned.body["points"] == 250
    redeemed = api.post(
        f"/v1/programs/{program}/members/m1/redemptions", {"reward_id": "coffee"}, headers={"Idempotency-Key": "k1"}
    )
    assert redeemed.status == 201, redeemed.body
    assert redeemed.body["balance"] == 150
    ledger_invariant(store, program, "m1")
