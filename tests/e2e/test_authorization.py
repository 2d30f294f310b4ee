"""Who may call what (issue 8: proof under stress), on the local stack in strict auth mode.

`LOYALTY_LOCAL_AUTH=aws`: an iam route takes only a call with `X-Local-Iam: signed` (what SigV4 gives in
AWS), a member route only a member token signed by the stack's key (what the Cognito authorizer
checks). One parametrized test covers every route of infra/definitions.ROUTES: each caller that must
be refused is refused with 401/403 and the JSON error shape, with no data of any member in the body,
and the caller that may call it gets through (the seeded ids exist, so a refusal can only be about
auth). The member routes only ever show the token's own member.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.definitions import ROUTES, Route
from infra.local.auth import AUDIENCE, ISSUER, SIGNED_HEADER, apigateway_claims
from infra.local.gateway import build_proxy_event
from tests.e2e.conftest import RunningStack
from tests.helpers import context, handler

pytestmark = pytest.mark.e2e

PROGRAM_ID = "az"
SIGNED = {SIGNED_HEADER: "signed"}
MEMBERS = {"ann": 500, "bob": 300, "carl": 0, "gone": 200}  # member -> points earned
SECRETS = [f"{member}@example.com" for member in MEMBERS] + ['"balance"', '"email"', '"lots"', '"transactions"']


@dataclass
class Stack:
    """The strict stack, its seeded data and the tokens the tests use."""

    stack: RunningStack
    tokens: dict[str, str] = field(default_factory=dict)
    redemptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def api(self) -> str:
        return self.stack.api

    def call(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> requests.Response:
        return self.session.request(method, f"{self.api}{path}", json=body, headers=headers, timeout=10)

    def signed(self, method: str, path: str, body: Any = None, status: tuple[int, ...] = (200, 201)) -> Any:
        answer = self.call(method, path, SIGNED, body)
        assert answer.status_code in status, (method, path, answer.status_code, answer.text)
        return answer.json()

    def mint(self, member_id: str, expires_in: int = 3600) -> str:
        body: dict[str, Any] = {"program_id": PROGRAM_ID, "member_id": member_id, "expires_in": expires_in}
        minted = self.session.post(f"{self.api}/_local/tokens", json=body, timeout=10)
        assert minted.status_code == 200, minted.text
        return str(minted.json()["token"])


def _forged(claims_of: str) -> dict[str, str]:
    """Tokens the stack did not sign, or signed but not for this: each must be refused."""
    now = int(time.time())
    claims = {
        "sub": claims_of,
        "cognito:username": claims_of,
        "custom:member_id": claims_of,
        "custom:program_id": PROGRAM_ID,
        "token_use": "id",
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 3600,
    }
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "signed by another key": jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "local"}),
        "not signed (alg none)": jwt.encode(claims, "", algorithm="none"),
        "not a token": "not-a-jwt",
    }


@pytest.fixture(scope="module")
def strict(start_local_stack: Callable[..., RunningStack]) -> Iterator[Stack]:
    stack = Stack(start_local_stack(env={"LOYALTY_LOCAL_AUTH": "aws"}))
    stack.session.trust_env = False  # no ~/.netrc credentials: an anonymous call stays anonymous
    program = f"/v1/programs/{PROGRAM_ID}"
    stack.signed(
        "PUT", program, {"name": "Auth", "currency": "EUR", "activity_points": {"newsletter": 50}}, status=(201,)
    )
    stack.signed("PUT", f"{program}/tiers/bronze", {"name": "Bronze", "threshold": 0})
    stack.signed("PUT", f"{program}/rewards/coffee", {"name": "Coffee", "type": "product", "cost": 100})
    stack.signed("PUT", f"{program}/segments/all", {"name": "Everyone", "condition": "true"})
    stack.signed("PUT", f"{program}/earning-rules/survey", SURVEY_RULE)
    occurred_at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for member_id, points in MEMBERS.items():
        stack.signed("POST", f"{program}/members", {"member_id": member_id, "email": f"{member_id}@example.com"})
        if points:
            order = {"order_id": "seed", "amount": points, "currency": "EUR", "occurred_at": occurred_at}
            stack.signed("POST", f"{program}/members/{member_id}/orders", order)
        stack.tokens[member_id] = stack.mint(member_id)
    for purpose in ("cancel", "consume"):
        path = f"{program}/members/ann/redemptions"
        redeemed = stack.call("POST", path, {**SIGNED, "Idempotency-Key": purpose}, {"reward_id": "coffee"})
        assert redeemed.status_code == 201, redeemed.text
        stack.redemptions[purpose] = redeemed.json()
    stack.signed("DELETE", f"{program}/members/gone")
    stack.tokens["expired"] = stack.mint("ann", expires_in=-60)
    yield stack
    stack.session.close()


# ---------------------------------------------------------------- a request for every route


@dataclass(frozen=True)
class Spec:
    """A request that succeeds for the caller the route is for: only auth can make it fail."""

    path: Callable[[Stack], str]
    body: Callable[[], Any] | None = None
    headers: Callable[[], dict[str, str]] = dict

    def send(self, stack: Stack, method: str, headers: dict[str, str]) -> requests.Response:
        body = self.body() if self.body else None
        return stack.call(method, self.path(stack), {**self.headers(), **headers}, body)


# A rule for an activity no test posts: it changes no balance the tests read.
SURVEY_RULE = {
    "name": "Survey",
    "trigger": "activity",
    "activity_type": "survey",
    "effect": {"type": "fixed", "points": 5},
}


def _unique() -> str:
    return uuid.uuid4().hex[:12]


def _now() -> str:
    return datetime.now(UTC).isoformat()


P = "/v1/programs/{program_id}"
M = P + "/members/{member_id}"
PROGRAM = f"/v1/programs/{PROGRAM_ID}"
ANN = f"{PROGRAM}/members/ann"
SPECS: dict[tuple[str, str], Spec] = {
    ("GET", "/v1/openapi.json"): Spec(lambda s: "/v1/openapi.json"),
    ("PUT", P): Spec(
        lambda s: PROGRAM, lambda: {"name": "Auth", "currency": "EUR", "activity_points": {"newsletter": 50}}
    ),
    ("GET", P): Spec(lambda s: PROGRAM),
    ("PUT", P + "/tiers/{tier_id}"): Spec(lambda s: f"{PROGRAM}/tiers/silver", lambda: {"name": "S", "threshold": 900}),
    ("PUT", P + "/rewards/{reward_id}"): Spec(
        lambda s: f"{PROGRAM}/rewards/tea", lambda: {"name": "Tea", "type": "product", "cost": 40}
    ),
    ("PUT", P + "/segments/{segment_id}"): Spec(
        lambda s: f"{PROGRAM}/segments/de", lambda: {"name": "Germany", "condition": 'member.country == "DE"'}
    ),
    ("GET", P + "/segments/{segment_id}"): Spec(lambda s: f"{PROGRAM}/segments/all"),
    ("PUT", P + "/earning-rules/{rule_id}"): Spec(lambda s: f"{PROGRAM}/earning-rules/survey", lambda: SURVEY_RULE),
    ("GET", P + "/earning-rules/{rule_id}"): Spec(lambda s: f"{PROGRAM}/earning-rules/survey"),
    ("POST", P + "/members"): Spec(lambda s: f"{PROGRAM}/members", lambda: {"email": f"{_unique()}@example.net"}),
    ("GET", M): Spec(lambda s: ANN),
    ("PATCH", M): Spec(lambda s: ANN, lambda: {"first_name": "Ann"}),
    ("DELETE", M): Spec(lambda s: f"{PROGRAM}/members/carl"),
    ("GET", M + "/export"): Spec(lambda s: f"{ANN}/export"),
    ("POST", M + "/orders"): Spec(
        lambda s: f"{ANN}/orders",
        lambda: {"order_id": _unique(), "amount": 10, "currency": "EUR", "occurred_at": _now()},
    ),
    ("POST", M + "/orders/{order_id}/refunds"): Spec(
        lambda s: f"{ANN}/orders/seed/refunds", lambda: {"refund_id": _unique(), "amount": 1}
    ),
    ("POST", M + "/activities"): Spec(
        lambda s: f"{ANN}/activities", lambda: {"activity_id": _unique(), "type": "newsletter", "occurred_at": _now()}
    ),
    ("GET", M + "/transactions"): Spec(lambda s: f"{ANN}/transactions"),
    ("GET", M + "/lots"): Spec(lambda s: f"{ANN}/lots"),
    ("GET", M + "/rewards"): Spec(lambda s: f"{ANN}/rewards"),
    ("POST", M + "/redemptions"): Spec(
        lambda s: f"{ANN}/redemptions", lambda: {"reward_id": "coffee"}, lambda: {"Idempotency-Key": _unique()}
    ),
    ("POST", M + "/redemptions/{redemption_id}/cancel"): Spec(
        lambda s: f"{ANN}/redemptions/{s.redemptions['cancel']['redemption_id']}/cancel"
    ),
    ("POST", P + "/codes/{code}/consume"): Spec(
        lambda s: f"{PROGRAM}/codes/{s.redemptions['consume']['code']}/consume", lambda: {"order_id": "pos-1"}
    ),
    ("GET", P + "/reports/summary"): Spec(lambda s: f"{PROGRAM}/reports/summary"),
    ("GET", "/v1/me"): Spec(lambda s: "/v1/me"),
    ("GET", "/v1/me/transactions"): Spec(lambda s: "/v1/me/transactions"),
    ("GET", "/v1/me/rewards"): Spec(lambda s: "/v1/me/rewards"),
    ("POST", "/v1/me/redemptions"): Spec(
        lambda s: "/v1/me/redemptions", lambda: {"reward_id": "coffee"}, lambda: {"Idempotency-Key": _unique()}
    ),
}


def assert_refused(answer: requests.Response, statuses: tuple[int, ...], who: str) -> None:
    assert answer.status_code in statuses, (who, answer.status_code, answer.text)
    assert answer.headers["Content-Type"].startswith("application/json"), (who, answer.headers)
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, (who, body)
    assert body["error"]["code"] in ("unauthorized", "forbidden"), (who, body)
    leaked = [secret for secret in SECRETS if secret in answer.text]
    assert leaked == [], (who, "a refusal carries member data", answer.text)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_every_route_refuses_who_it_must_and_serves_who_it_is_for(route: Route, strict: Stack) -> None:
    found = SPECS.get((route.method, route.path))
    assert found is not None, f"no request for {_route_id(route)}: add one to SPECS"
    spec = found

    def send(headers: dict[str, str]) -> requests.Response:
        return spec.send(strict, route.method, headers)

    if route.auth == "iam":
        # GET /v1/openapi.json is an iam route in infra/definitions.py like the rest (the handler itself
        # does not check the caller of the document, so the gateway is what guards it).
        assert_refused(send({}), (403,), "anonymous")
        for member_id in ("ann", "bob"):
            assert_refused(send(_bearer(strict.tokens[member_id])), (401, 403), f"{member_id}'s token")
        assert_refused(send({**SIGNED, **_bearer(strict.tokens["ann"])}), (401, 403), "token + marker")
        allowed = send(SIGNED)
    else:
        assert_refused(send({}), (401,), "anonymous")
        assert_refused(send(SIGNED), (401,), "an IAM caller without a member token")
        for name, token in {**_forged("ann"), "expired": strict.tokens["expired"]}.items():
            assert_refused(send(_bearer(token)), (401,), name)
            assert_refused(send({"Authorization": token}), (401,), f"{name} without Bearer")
        assert_refused(send(_bearer(strict.tokens["gone"])), (403,), "an erased member's token")
        allowed = send(_bearer(strict.tokens["ann"]))
    assert allowed.status_code in (200, 201), (allowed.status_code, allowed.text)


# ---------------------------------------------------------------- a member sees only themself


def test_a_members_token_shows_only_that_member(strict: Stack) -> None:
    ann, bob = _bearer(strict.tokens["ann"]), _bearer(strict.tokens["bob"])
    me = strict.call("GET", "/v1/me", ann).json()
    assert (me["member_id"], me["email"]) == ("ann", "ann@example.com")
    # Naming another member anywhere but the token changes nothing.
    for path in ("/v1/me?member_id=bob&program_id=az", "/v1/me/?member_id=bob"):
        answer = strict.call("GET", path, {**ann, "X-Member-Id": "bob"})
        assert answer.status_code in (200, 404) and "bob@example.com" not in answer.text, answer.text
    assert strict.call("GET", "/v1/me", bob).json()["member_id"] == "bob"

    mine = strict.call("GET", "/v1/me/transactions?limit=100", ann).json()["transactions"]
    ledger = strict.signed("GET", f"{ANN}/transactions?limit=100")["transactions"]
    assert [t["transaction_id"] for t in mine] == [t["transaction_id"] for t in ledger]
    bobs = {t["transaction_id"] for t in strict.signed("GET", f"{PROGRAM}/members/bob/transactions")["transactions"]}
    assert bobs.isdisjoint(t["transaction_id"] for t in mine)
    assert strict.call("GET", "/v1/me/rewards", ann).json()["member_id"] == "ann"


def test_a_members_token_cannot_read_or_redeem_for_another_member(strict: Stack) -> None:
    ann = _bearer(strict.tokens["ann"])
    bob_before = strict.signed("GET", f"{PROGRAM}/members/bob")
    ann_before = strict.signed("GET", ANN)
    bob = f"{PROGRAM}/members/bob"
    for method, path, body in (
        ("GET", bob, None),
        ("GET", f"{bob}/transactions", None),
        ("GET", f"{bob}/export", None),
        ("POST", f"{bob}/redemptions", {"reward_id": "coffee"}),
    ):
        assert_refused(strict.call(method, path, {**ann, "Idempotency-Key": "steal"}, body), (401, 403), path)

    # The member's own redemption route redeems for the token's member, whatever the body says.
    sneaky = strict.call(
        "POST", "/v1/me/redemptions", {**ann, "Idempotency-Key": "sneaky"}, {"reward_id": "coffee", "member_id": "bob"}
    )
    assert sneaky.status_code == 422, sneaky.text  # an unknown field is refused, not followed
    redeemed = strict.call("POST", "/v1/me/redemptions", {**ann, "Idempotency-Key": "own"}, {"reward_id": "coffee"})
    assert redeemed.status_code == 201, redeemed.text

    assert strict.signed("GET", f"{PROGRAM}/members/bob")["balance"] == bob_before["balance"]
    assert strict.signed("GET", ANN)["balance"] == ann_before["balance"] - 100


@pytest.mark.parametrize("route", [r for r in ROUTES if r.auth == "member"], ids=_route_id)
@pytest.mark.parametrize("missing", ["custom:member_id", "custom:program_id"])
def test_claims_without_the_member_are_refused_by_the_function(route: Route, missing: str) -> None:
    """A Cognito user without the custom attributes gets a valid token: the function itself refuses it.
    (The local issuer always sets them, so this calls the function with the claims API Gateway passes.)"""
    claims = {"sub": "ann", "custom:member_id": "ann", "custom:program_id": PROGRAM_ID, "token_use": "id"}
    claims.pop(missing)
    event = build_proxy_event(
        resource=route.path,
        path=route.path,
        method=route.method,
        headers=[("Content-Type", "application/json"), ("Idempotency-Key", "k")],
        body=b'{"reward_id": "coffee"}' if route.method == "POST" else b"",
        identity={},
        authorizer={"claims": apigateway_claims(claims)},
    )
    answer = handler(route.function)(event, context(route.function))
    assert answer["statusCode"] == 401, answer
    body = answer["body"]
    assert '"unauthorized"' in body and "ann@example.com" not in body and "balance" not in body
