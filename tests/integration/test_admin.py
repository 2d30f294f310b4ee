"""Program admin: settings, tiers and rewards as data."""

from __future__ import annotations

from tests.helpers import Api
from tests.integration.conftest import PROGRAM


def test_a_program_is_created_then_replaced_and_read_back(api: Api) -> None:
    created = api.put("/v1/programs/p1", PROGRAM)
    assert created.status == 201
    replaced = api.put("/v1/programs/p1", {**PROGRAM, "name": "Renamed", "expiry": {"policy": "never"}})
    assert replaced.status == 200

    read = api.get("/v1/programs/p1")

    assert read.status == 200
    assert read.body["name"] == "Renamed"
    assert read.body["expiry"] == {"policy": "never"}
    assert read.body["reminders"]["expiring_days_before"] == [30, 7]


def test_tiers_and_rewards_are_listed_with_the_program(api: Api, program: str) -> None:
    read = api.get(f"/v1/programs/{program}")

    assert list(read.body["tiers"]) == ["bronze", "silver", "gold"]  # by threshold
    assert read.body["rewards"]["coffee"]["cost"] == 100


def test_an_unknown_currency_or_time_zone_is_refused(api: Api) -> None:
    for bad in ({"currency": "XYZ"}, {"timezone": "Mars/Olympus"}, {"expiry": {"policy": "rolling"}}):
        answer = api.put("/v1/programs/p2", {**PROGRAM, **bad})
        assert answer.status == 422, bad
        assert answer.error_code == "validation_error"
    assert api.get("/v1/programs/p2").status == 404


def test_a_tier_of_an_unknown_program_is_not_found(api: Api) -> None:
    answer = api.put("/v1/programs/nope/tiers/gold", {"name": "Gold", "threshold": 10})
    assert answer.status == 404
    assert answer.error_code == "not_found"
