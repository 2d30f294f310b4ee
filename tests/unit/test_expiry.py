"""When a lot's points expire, under each policy: month ends, leap days and the program's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from loyalty.domain.program import add_months, lot_expiry
from tests.unit.factories import program, standard_tiers, tier, utc

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def end_of_period(period: str, periods_after: int = 0, timezone: str = "UTC") -> dict[str, Any]:
    return {
        "expiry": {"policy": "end_of_period", "period": period, "periods_after": periods_after},
        "timezone": timezone,
    }


# --- add_months -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        pytest.param(utc(2025, 1, 31), 1, utc(2025, 2, 28), id="jan-31-plus-1-is-feb-28"),
        pytest.param(utc(2024, 1, 31), 1, utc(2024, 2, 29), id="jan-31-plus-1-is-feb-29-in-a-leap-year"),
        pytest.param(utc(2025, 3, 31), 1, utc(2025, 4, 30), id="mar-31-plus-1-is-apr-30"),
        pytest.param(utc(2025, 1, 31), 2, utc(2025, 3, 31), id="jan-31-plus-2-keeps-the-31st"),
        pytest.param(utc(2025, 12, 15), 1, utc(2026, 1, 15), id="december-rolls-into-next-year"),
        pytest.param(utc(2025, 11, 30), 14, utc(2027, 1, 30), id="more-than-a-year"),
        pytest.param(utc(2024, 2, 29), 12, utc(2025, 2, 28), id="leap-day-plus-a-year"),
        pytest.param(utc(2024, 2, 29), 48, utc(2028, 2, 29), id="leap-day-plus-four-years"),
        pytest.param(utc(2025, 3, 31), -1, utc(2025, 2, 28), id="minus-one-month"),
        pytest.param(utc(2025, 1, 15), -1, utc(2024, 12, 15), id="minus-one-month-into-last-year"),
        pytest.param(utc(2025, 5, 31), 0, utc(2025, 5, 31), id="zero-months"),
    ],
)
def test_given_a_date_then_adding_months_clamps_to_the_last_day_of_a_shorter_month(
    moment: datetime, months: int, expected: datetime
) -> None:
    assert add_months(moment, months) == expected


def test_given_a_time_of_day_and_zone_then_adding_months_keeps_both() -> None:
    moment = datetime(2025, 1, 31, 23, 30, 15, tzinfo=BERLIN)

    assert add_months(moment, 1) == datetime(2025, 2, 28, 23, 30, 15, tzinfo=BERLIN)


# --- rolling --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("occurred_at", "days", "expected"),
    [
        pytest.param(utc(2025, 1, 1), 30, utc(2025, 1, 31), id="thirty-days"),
        pytest.param(utc(2025, 1, 31, 23, 59, 59), 1, utc(2025, 2, 1, 23, 59, 59), id="keeps-the-time-of-day"),
        pytest.param(utc(2024, 2, 29, 12), 365, utc(2025, 2, 28, 12), id="leap-day-plus-365"),
        pytest.param(utc(2023, 3, 1), 365, utc(2024, 2, 29), id="365-days-ending-on-a-leap-day"),
        pytest.param(utc(2024, 1, 1), 365, utc(2024, 12, 31), id="365-days-within-a-leap-year"),
        pytest.param(utc(2024, 1, 1), 366, utc(2025, 1, 1), id="366-days-within-a-leap-year"),
        pytest.param(utc(2025, 1, 1), 365, utc(2026, 1, 1), id="365-days-in-a-common-year"),
    ],
)
def test_given_rolling_expiry_then_a_lot_expires_exactly_that_many_days_after_it_was_earned(
    occurred_at: datetime, days: int, expected: datetime
) -> None:
    config = program(expiry={"policy": "rolling", "days": days})

    assert lot_expiry(config, occurred_at, None) == expected


@pytest.mark.parametrize(
    ("tier_id", "expected_days"),
    [
        pytest.param("gold", 730, id="tier-with-own-expiry"),
        pytest.param("silver", 365, id="tier-without-own-expiry"),
        pytest.param("retired-tier", 365, id="unknown-tier"),
        pytest.param(None, 365, id="no-tier"),
    ],
)
def test_given_rolling_expiry_then_a_tiers_own_expiry_days_replace_the_programs(
    tier_id: str | None, expected_days: int
) -> None:
    config = program(
        expiry={"policy": "rolling", "days": 365},
        tiers={"silver": tier(1_000), "gold": tier(5_000, expiry_days=730)},
    )

    assert lot_expiry(config, utc(2025, 3, 1), tier_id) == utc(2025, 3, 1) + timedelta(days=expected_days)


# --- never and inactivity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expiry",
    [
        pytest.param({"policy": "never"}, id="never"),
        pytest.param({"policy": "inactivity", "days": 365}, id="inactivity-is-decided-by-the-sweep"),
    ],
)
@pytest.mark.parametrize("tier_id", [None, "gold"])
def test_given_never_or_inactivity_expiry_then_a_lot_carries_no_expiry_date(
    expiry: dict[str, Any], tier_id: str | None
) -> None:
    config = program(expiry=expiry, tiers=standard_tiers())

    assert lot_expiry(config, utc(2024, 2, 29, 23, 59), tier_id) is None


# --- end of period, in UTC ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("occurred_at", "period", "periods_after", "expected"),
    [
        pytest.param(utc(2025, 1, 31, 12), "month", 0, utc(2025, 2, 1), id="month-end-of-january"),
        pytest.param(utc(2025, 1, 31, 12), "month", 1, utc(2025, 3, 1), id="month-one-after"),
        pytest.param(utc(2025, 1, 31, 12), "month", 12, utc(2026, 2, 1), id="month-twelve-after"),
        pytest.param(utc(2025, 12, 31, 23, 59, 59), "month", 0, utc(2026, 1, 1), id="month-last-second-of-year"),
        pytest.param(utc(2025, 5, 1), "month", 0, utc(2025, 6, 1), id="month-first-instant-is-the-new-month"),
        pytest.param(utc(2024, 2, 29, 9), "month", 0, utc(2024, 3, 1), id="month-leap-day"),
        pytest.param(utc(2024, 2, 29, 9), "quarter", 0, utc(2024, 4, 1), id="quarter-leap-day"),
        pytest.param(utc(2024, 2, 29, 9), "year", 0, utc(2025, 1, 1), id="year-leap-day"),
        pytest.param(utc(2024, 2, 29, 9), "year", 4, utc(2029, 1, 1), id="year-leap-day-four-after"),
        pytest.param(utc(2025, 2, 15), "quarter", 0, utc(2025, 4, 1), id="quarter-q1"),
        pytest.param(utc(2025, 2, 15), "quarter", 2, utc(2025, 10, 1), id="quarter-two-after"),
        pytest.param(utc(2025, 3, 31, 23, 59), "quarter", 0, utc(2025, 4, 1), id="quarter-last-minute-of-q1"),
        pytest.param(utc(2025, 4, 1), "quarter", 0, utc(2025, 7, 1), id="quarter-first-instant-of-q2"),
        pytest.param(utc(2025, 11, 10), "quarter", 0, utc(2026, 1, 1), id="quarter-q4-into-next-year"),
        pytest.param(utc(2025, 11, 10), "quarter", 5, utc(2027, 4, 1), id="quarter-five-after-across-years"),
        pytest.param(utc(2025, 6, 1), "year", 0, utc(2026, 1, 1), id="year"),
        pytest.param(utc(2025, 6, 1), "year", 3, utc(2029, 1, 1), id="year-three-after"),
        pytest.param(utc(2025, 1, 1), "year", 0, utc(2026, 1, 1), id="year-first-instant"),
    ],
)
def test_given_end_of_period_expiry_in_utc_then_a_lot_expires_when_the_kth_following_period_ends(
    occurred_at: datetime, period: str, periods_after: int, expected: datetime
) -> None:
    config = program(**end_of_period(period, periods_after))

    expires_at = lot_expiry(config, occurred_at, None)

    assert expires_at == expected
    assert expires_at is not None and expires_at.utcoffset() == timedelta(0)


def test_given_end_of_period_expiry_then_a_tiers_expiry_days_do_not_apply() -> None:
    config = program(**end_of_period("month"), tiers={"gold": tier(0, expiry_days=7)})

    assert lot_expiry(config, utc(2025, 1, 10), "gold") == utc(2025, 2, 1)


# --- end of period, in the program's time zone ----------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "earned_local", "period", "periods_after", "expected_utc"),
    [
        # Europe/Berlin: UTC+2 in summer (from 30 Mar 2025), UTC+1 in winter.
        pytest.param(
            BERLIN, datetime(2025, 3, 31, 23, 30), "quarter", 0, utc(2025, 3, 31, 22), id="berlin-mar-31-2330-is-q1"
        ),
        pytest.param(
            BERLIN, datetime(2025, 3, 31, 23, 30), "month", 0, utc(2025, 3, 31, 22), id="berlin-mar-31-2330-is-march"
        ),
        pytest.param(
            BERLIN, datetime(2025, 3, 31, 23, 30), "quarter", 1, utc(2025, 6, 30, 22), id="berlin-q1-one-after"
        ),
        pytest.param(BERLIN, datetime(2025, 3, 31, 23, 30), "year", 0, utc(2025, 12, 31, 23), id="berlin-mar-31-year"),
        pytest.param(
            BERLIN,
            datetime(2025, 4, 1, 0, 30),
            "quarter",
            0,
            utc(2025, 6, 30, 22),
            id="berlin-apr-1-0030-is-q2",
        ),
        pytest.param(
            BERLIN,
            datetime(2025, 4, 1, 0, 30),
            "month",
            0,
            utc(2025, 4, 30, 22),
            id="berlin-apr-1-0030-is-april",
        ),
        pytest.param(
            BERLIN, datetime(2025, 12, 31, 23, 30), "year", 0, utc(2025, 12, 31, 23), id="berlin-dec-31-2330-is-2025"
        ),
        pytest.param(
            BERLIN,
            datetime(2025, 12, 31, 23, 30),
            "month",
            0,
            utc(2025, 12, 31, 23),
            id="berlin-dec-31-2330-is-december",
        ),
        pytest.param(
            BERLIN, datetime(2026, 1, 1, 0, 30), "year", 0, utc(2026, 12, 31, 23), id="berlin-jan-1-0030-is-2026"
        ),
        pytest.param(
            BERLIN,
            datetime(2026, 1, 1, 0, 30),
            "month",
            0,
            utc(2026, 1, 31, 23),
            id="berlin-jan-1-0030-is-january",
        ),
        pytest.param(
            BERLIN,
            datetime(2026, 1, 1, 0, 30),
            "quarter",
            0,
            utc(2026, 3, 31, 22),
            id="berlin-jan-1-0030-is-q1",
        ),
        # America/New_York: UTC-4 in summer (from 9 Mar 2025), UTC-5 in winter.
        pytest.param(
            NEW_YORK,
            datetime(2025, 3, 31, 23, 30),
            "quarter",
            0,
            utc(2025, 4, 1, 4),
            id="new-york-mar-31-2330-is-q1",
        ),
        pytest.param(
            NEW_YORK,
            datetime(2025, 3, 31, 23, 30),
            "month",
            0,
            utc(2025, 4, 1, 4),
            id="new-york-mar-31-2330-is-march",
        ),
        pytest.param(NEW_YORK, datetime(2025, 3, 31, 23, 30), "year", 0, utc(2026, 1, 1, 5), id="new-york-mar-31-year"),
        pytest.param(
            NEW_YORK, datetime(2025, 4, 1, 0, 30), "quarter", 0, utc(2025, 7, 1, 4), id="new-york-apr-1-0030-is-q2"
        ),
        pytest.param(
            NEW_YORK,
            datetime(2025, 6, 30, 23, 30),
            "quarter",
            0,
            utc(2025, 7, 1, 4),
            id="new-york-jun-30-2330-is-q2",
        ),
        pytest.param(
            NEW_YORK,
            datetime(2025, 12, 31, 23, 30),
            "year",
            0,
            utc(2026, 1, 1, 5),
            id="new-york-dec-31-2330-is-2025",
        ),
        pytest.param(
            NEW_YORK,
            datetime(2025, 12, 31, 23, 30),
            "month",
            0,
            utc(2026, 1, 1, 5),
            id="new-york-dec-31-2330-is-december",
        ),
        pytest.param(
            NEW_YORK,
            datetime(2025, 12, 31, 23, 30),
            "quarter",
            0,
            utc(2026, 1, 1, 5),
            id="new-york-dec-31-2330-is-q4",
        ),
        pytest.param(
            NEW_YORK, datetime(2026, 1, 1, 0, 30), "year", 0, utc(2027, 1, 1, 5), id="new-york-jan-1-0030-is-2026"
        ),
    ],
)
def test_given_end_of_period_expiry_in_a_local_zone_then_the_earn_belongs_to_its_local_period_and_expires_at_local_midnight(
    zone: ZoneInfo, earned_local: datetime, period: str, periods_after: int, expected_utc: datetime
) -> None:
    config = program(**end_of_period(period, periods_after, timezone=str(zone)))
    occurred_at = earned_local.replace(tzinfo=zone).astimezone(UTC)

    expires_at = lot_expiry(config, occurred_at, None)

    assert expires_at == expected_utc
    assert expires_at is not None and expires_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("zone", "earned_local", "period", "expected_utc"),
    [
        pytest.param(BERLIN, datetime(2025, 3, 15, 12), "month", utc(2025, 3, 31, 22), id="berlin-into-summer-time"),
        pytest.param(BERLIN, datetime(2025, 10, 15, 12), "month", utc(2025, 10, 31, 23), id="berlin-into-winter-time"),
        pytest.param(NEW_YORK, datetime(2025, 3, 1, 12), "month", utc(2025, 4, 1, 4), id="new-york-into-summer-time"),
        pytest.param(
            NEW_YORK, datetime(2025, 10, 15, 12), "quarter", utc(2026, 1, 1, 5), id="new-york-into-winter-time"
        ),
    ],
)
def test_given_a_period_that_spans_a_daylight_saving_change_then_expiry_is_local_midnight_at_the_new_offset(
    zone: ZoneInfo, earned_local: datetime, period: str, expected_utc: datetime
) -> None:
    config = program(**end_of_period(period, timezone=str(zone)))

    assert lot_expiry(config, earned_local.replace(tzinfo=zone).astimezone(UTC), None) == expected_utc


def _expected_end_of_period(occurred_at: datetime, zone: ZoneInfo, period: str, periods_after: int) -> datetime:
    """Independent oracle: the local calendar period of the earn, K periods on, at local midnight, in UTC."""
    length = {"month": 1, "quarter": 3, "year": 12}[period]
    local = occurred_at.astimezone(zone)
    start = local.year * 12 + (local.month - 1) // length * length
    year, month_index = divmod(start + length * (periods_after + 1), 12)
    return datetime(year, month_index + 1, 1, tzinfo=zone).astimezone(UTC)


def _instants_around_month_ends(year: int) -> list[datetime]:
    """Every half hour from 14 h before to 14 h after each UTC month start of the year (covers UTC-12..+14)."""
    moments = []
    for month in range(1, 13):
        boundary = utc(year, month, 1)
        moments.extend(boundary + timedelta(minutes=30 * step) for step in range(-28, 29))
    return moments


SWEEP_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]
SWEEP_CASES = [
    pytest.param(
        zone_name,
        period,
        periods_after,
        id=f"{zone_name}-{period}-{periods_after}",
    )
    for zone_name in SWEEP_ZONES
    for period, periods_after in [("month", 0), ("quarter", 0), ("quarter", 2), ("year", 0), ("year", 1)]
]


@pytest.mark.parametrize(("zone_name", "period", "periods_after"), SWEEP_CASES)
def test_given_any_earn_around_a_month_end_then_it_expires_after_it_was_earned_at_the_end_of_its_local_period(
    zone_name: str, period: str, periods_after: int
) -> None:
    zone = ZoneInfo(zone_name)
    config = program(**end_of_period(period, periods_after, timezone=zone_name))

    for occurred_at in _instants_around_month_ends(2024):
        expires_at = lot_expiry(config, occurred_at, None)
        assert expires_at is not None and expires_at > occurred_at, f"earned {occurred_at} expired {expires_at}"
        assert expires_at == _expected_end_of_period(occurred_at, zone, period, periods_after), occurred_at
