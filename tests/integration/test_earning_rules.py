"""Earning rules through the real handlers: admin routes, earns with rules, caps, budgets, the kill switch."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from loyalty.api.runtime import Runtime, use_runtime
from loyalty.services.programs import ProgramCache
from loyalty.store.store import LoyaltyStore
from tests.helpers import Api
from tests.integration.conftest import Clock, earn_directly, enroll, order

P = "/v1/programs/acme"
DOUBLE_DE = {
    "name": "Double points for German customers",
    "trigger": "order",
    "condition": 'member.country == "DE"',
    "effect": {"type": "multiplier", "factor": 2},
}
REVIEW = {
    "name": "50 points for a review",
    "trigger": "activity",
    "activity_type": "review",
    "effect": {"type": "fixed", "points": 50},
    "caps": {"points": 100, "period_days": 30},
}


def _entry(store: LoyaltyStore, member_id: str, source: str) -> dict[str, Any]:
    kind, _, source_id = source.partition("#")
    found = store.get_entry("acme", member_id, kind, source_id)
    assert found is not None
    return found


def activity(activity_id: str, activity_type: str = "review", at: str = "2026-11-20T10:00:00+00:00") -> dict[str, Any]:
    return {"activity_id": activity_id, "activity_type": activity_type, "occurred_at": at}


# ------------------------------------------------------------------ admin routes


def test_a_rule_is_created_replaced_read_and_listed_with_the_program(api: Api, program: str) -> None:
    created = api.put(f"{P}/earning-rules/double-de", DOUBLE_DE)
    assert created.status == 201, created.body
    assert created.body["rule_id"] == "double-de"
    assert created.body["effect"] == {"type": "multiplier", "factor": "2"}

    happy = {
        **DOUBLE_DE,
        "schedule": {"weekdays": ["MON"], "from": "18:00", "to": "20:00", "timezone": "Europe/Berlin"},
    }
    replaced = api.put(f"{P}/earning-rules/double-de", happy)
    assert replaced.status == 200
    read = api.get(f"{P}/earning-rules/double-de")
    assert read.status == 200
    assert read.body["schedule"] == {
        "weekdays": ["MON"],
        "from": "18:00:00",
        "to": "20:00:00",
        "timezone": "Europe/Berlin",
    }
    assert api.get(P).body["earning_rules"]["double-de"]["name"] == DOUBLE_DE["name"]


def test_a_rule_with_a_broken_or_foreign_condition_is_refused_and_nothing_is_stored(api: Api, program: str) -> None:
    broken = api.put(f"{P}/earning-rules/broken", {**DOUBLE_DE, "condition": 'member.country == "DE" &&'})
    foreign = api.put(f"{P}/earning-rules/broken", {**DOUBLE_DE, "condition": 'customer.country == "DE"'})
    assert (broken.status, broken.error_code) == (422, "validation_error")
    assert (foreign.status, foreign.error_code) == (422, "validation_error")
    assert foreign.body["error"]["details"]["unknown"] == ["customer"]
    assert api.get(f"{P}/earning-rules/broken").status == 404
    assert api.get(P).body["earning_rules"] == {}


def test_an_inconsistent_rule_is_refused(api: Api, program: str) -> None:
    no_type = api.put(f"{P}/earning-rules/r", {**REVIEW, "activity_type": None})
    multiplier_on_activity = api.put(f"{P}/earning-rules/r", {**REVIEW, "effect": {"type": "multiplier", "factor": 2}})
    assert no_type.status == 422 and no_type.error_code == "validation_error"
    assert multiplier_on_activity.status == 422
    assert api.put("/v1/programs/nope/earning-rules/r", DOUBLE_DE).status == 404


# ------------------------------------------------------------------ earning with rules


def test_an_order_earns_through_its_rules_records_points_per_line_and_replays_identically(
    api: Api, program: str, store: LoyaltyStore
) -> None:
    api.put(f"{P}/earning-rules/double-de", {**DOUBLE_DE, "items": {"exclude_categories": ["gift"]}})
    api.put(
        f"{P}/earning-rules/bakery",
        {
            "name": "Bakery",
            "trigger": "order",
            "effect": {"type": "per_amount", "points": 3},
            "items": {"skus": ["BUN"]},
        },
    )
    api.put(
        f"{P}/earning-rules/welcome", {"name": "Bonus", "trigger": "order", "effect": {"type": "fixed", "points": 5}}
    )
    enroll(api, program, "de", country="DE")
    items = [
        {"line_id": "1", "sku": "BEANS", "category": "coffee", "quantity": 1, "unit_price": 20},
        {"line_id": "2", "sku": "BUN", "category": "bakery", "quantity": 4, "unit_price": 2.5},
        {"line_id": "3", "sku": "CARD", "category": "gift", "quantity": 1, "unit_price": 10},
    ]
    body = order("o-1", 40, items=items)

    first = api.post(f"{P}/members/de/orders", body)
    assert first.status == 201, first.body
    assert first.body["applied_rules"] == [
        {"rule_id": "base_rate", "points": 40},
        {"rule_id": "bakery", "points": 30},
        {"rule_id": "double-de", "points": 30},
        {"rule_id": "welcome", "points": 5},
    ]
    assert first.body["points"] == 105
    recorded = {r["rule_id"]: r["lines"] for r in _entry(store, "de", "order#o-1")["snapshot"]["rules"]}
    assert recorded["base_rate"] == {"1": 20, "2": 10, "3": 10}
    assert recorded["double-de"] == {"1": 20, "2": 10}
    assert recorded["bakery"] == {"2": 30}
    assert sum(recorded["welcome"].values()) == 5

    again = api.post(f"{P}/members/de/orders", body)
    assert (again.status, again.body) == (200, first.body)
    assert api.get(f"{P}/members/de").body["balance"] == 105

    enroll(api, program, "fr", country="FR")
    french = api.post(f"{P}/members/fr/orders", body)
    assert [r["rule_id"] for r in french.body["applied_rules"]] == ["base_rate", "bakery", "welcome"]


def test_the_tier_multiplier_scales_the_rules_before_fixed_points(api: Api, program: str) -> None:
    api.put(f"{P}/earning-rules/double-de", DOUBLE_DE)
    enroll(api, program, "de", country="DE")
    api.post(f"{P}/members/de/orders", order("o-1", 2000))  # reaches gold (x2)
    earned = api.post(f"{P}/members/de/orders", order("o-2", 10))
    assert earned.body["tier"] == "gold"
    assert earned.body["applied_rules"] == [
        {"rule_id": "base_rate", "points": 20},
        {"rule_id": "double-de", "points": 20},
    ]


def test_a_review_rule_is_capped_per_member_and_period(api: Api, program: str, clock: Clock) -> None:
    assert api.put(f"{P}/earning-rules/review", REVIEW).status == 201
    enroll(api, program, "m1")
    answers = [
        api.post(f"{P}/members/m1/activities", activity(f"a-{n}", at=f"2026-11-{10 + n}T10:00:00+00:00"))
        for n in range(3)
    ]
    assert [a.status for a in answers] == [201, 201, 201]
    assert [a.body["points"] for a in answers] == [50, 50, 0]
    assert answers[2].body["applied_rules"] == []
    # 30 days after the first review, its points leave the window.
    clock.advance(days=30)
    later = api.post(f"{P}/members/m1/activities", activity("a-9", at="2026-12-10T11:00:00+00:00"))
    assert later.body["applied_rules"] == [{"rule_id": "review", "points": 50}]
    # Activity points of the program stay the fallback for types no rule serves.
    newsletter = api.post(f"{P}/members/m1/activities", activity("n-1", "newsletter"))
    assert newsletter.body["applied_rules"] == [{"rule_id": "activity:newsletter", "points": 50}]


def test_a_spent_budget_stops_the_rule_and_the_earn_still_succeeds(api: Api, program: str, store: LoyaltyStore) -> None:
    bonus = {"name": "Bonus", "trigger": "order", "effect": {"type": "fixed", "points": 30}, "budget": 50}
    api.put(f"{P}/earning-rules/bonus", bonus)
    enroll(api, program, "m1")
    answers = [api.post(f"{P}/members/m1/orders", order(f"o-{n}", 10)) for n in range(3)]
    assert [a.status for a in answers] == [201, 201, 201]
    assert [a.body["applied_rules"] for a in answers] == [
        [{"rule_id": "base_rate", "points": 10}, {"rule_id": "bonus", "points": 30}],
        [{"rule_id": "base_rate", "points": 10}, {"rule_id": "bonus", "points": 20}],  # what was left
        [{"rule_id": "base_rate", "points": 10}],
    ]
    assert sum(store.rule_budget_spent(program, "bonus", 8)) == 50


def test_the_kill_switch_stops_a_rule_everywhere_within_10_seconds(
    api: Api, program: str, store: LoyaltyStore, runtime: Runtime, clock: Clock
) -> None:
    api.put(f"{P}/earning-rules/double-de", DOUBLE_DE)
    enroll(api, program, "de", country="DE")
    # Another function (the earn one) holds its own cache, with the longest time to live allowed.
    seconds = [0.0]
    earn_function = Runtime(store, ProgramCache(ttl_seconds=60, clock=lambda: seconds[0]), clock)

    def earn(order_id: str) -> list[str]:
        use_runtime(earn_function)
        try:
            answer = api.post(f"{P}/members/de/orders", order(order_id, 10))
        finally:
            use_runtime(runtime)
        assert answer.status == 201, answer.body
        return [rule["rule_id"] for rule in answer.body["applied_rules"]]

    assert earn("o-1") == ["base_rate", "double-de"]
    assert api.put(f"{P}/earning-rules/double-de", {**DOUBLE_DE, "active": False}).status == 200
    seconds[0] = 9.9
    assert earn("o-2") == ["base_rate", "double-de"]  # still cached on that function
    seconds[0] = 10.0
    assert earn("o-3") == ["base_rate"]


# ------------------------------------------------------------------ concurrency


def test_a_rule_budget_holds_under_200_concurrent_earns(
    api: Api, program: str, store: LoyaltyStore, runtime: Runtime
) -> None:
    bonus = {"name": "First 50", "trigger": "order", "effect": {"type": "fixed", "points": 10}, "budget": 500}
    api.put(f"{P}/earning-rules/first50", bonus)
    for n in range(200):
        enroll(api, program, f"m{n}")

    with ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(lambda n: earn_directly(runtime, f"m{n}", order("o-1", 10)), range(200)))

    assert [a.status for a in answers] == [201] * 200
    given = [r["points"] for a in answers for r in a.body["applied_rules"] if r["rule_id"] == "first50"]
    assert given == [10] * 50
    spent = store.rule_budget_spent(program, "first50", 8)
    assert sum(spent) == 500
    assert sum(1 for points in spent if points) > 1  # the writes were spread over the shards
    assert sum(api.get(f"{P}/members/m{n}").body["balance"] for n in range(200)) == 200 * 10 + 500
