"""CEL conditions: checked when saved, evaluated against the member, order and now."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty.domain.conditions import check, holds, member_context
from loyalty.domain.program import Segment
from loyalty.errors import ValidationFailed
from tests.unit.factories import member, program

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('member.country == "DE" && now.getDayOfWeek() == 1', True),
        ('member.tier == "gold"', False),
        ("member.attributes.vip == true", True),
        ("order.amount >= 20.0", True),
        ("member.days_since_enrollment > 300", True),
        ("member.no_such_field == 1", False),  # an evaluation error counts as false
        ("1 + 1", False),  # not a boolean
    ],
)
def test_given_a_condition_then_it_holds_for_the_member_order_and_time(expression: str, expected: bool) -> None:
    someone = member(country="DE", tier="silver", attributes={"vip": True})
    context = {"member": member_context(someone, MONDAY, program()), "order": {"amount": 25.5}, "now": MONDAY}

    assert holds(expression, context) is expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("member.country == ", "not valid CEL"),
        ('customer.country == "DE"', "outside its context"),
        ("os.system == 1", "outside its context"),
    ],
)
def test_given_a_broken_condition_then_saving_it_is_refused(expression: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check(expression)
    assert reason in refused.value.message


def test_given_a_member_then_the_condition_context_holds_no_contact_data() -> None:
    context = member_context(member(email="a@b.co", phone="+4930123456"), MONDAY, program())
    assert "email" not in context and "phone" not in context


# --- segments -------------------------------------------------------------------------------------


def test_given_segments_then_the_context_lists_the_ones_the_member_is_in_and_rewards_can_test_them() -> None:
    config = program(
        segments={
            "germans": 'member.country == "DE"',
            "big_spenders": "member.spend_365d >= 100.0",
            "frequent": "member.orders_365d >= 2",
            "loyal": "member.days_since_enrollment > 365",
        }
    )
    someone = member(country="DE", spend={"2026-10": Decimal("60"), "2026-11": Decimal("45.50")}, orders={"2026-11": 1})

    context = member_context(someone, MONDAY, config)

    assert context["segments"] == ["big_spenders", "germans", "loyal"]
    assert context["spend_365d"] == Decimal("105.50") and context["orders_365d"] == 1
    assert holds('"big_spenders" in member.segments', {"member": context, "now": MONDAY})
    assert not holds('"frequent" in member.segments', {"member": context, "now": MONDAY})


def test_given_a_segment_that_tests_segments_then_it_never_holds_so_segments_cannot_recurse() -> None:
    config = program(segments={"vip": "member.balance >= 0", "echo": '"vip" in member.segments'})

    assert member_context(member(), MONDAY, config)["segments"] == ["vip"]


def test_given_no_segments_then_the_member_is_in_none() -> None:
    assert member_context(member(), MONDAY, program())["segments"] == []


@pytest.mark.parametrize(
    "condition",
    [
        pytest.param("order.amount > 10.0", id="order-is-no-member-data"),
        pytest.param('activity.activity_type == "review"', id="activity-is-no-member-data"),
        pytest.param("member.country ==", id="not-cel"),
    ],
)
def test_given_a_segment_condition_reading_an_event_or_broken_then_saving_it_is_refused(condition: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        Segment(name="s", condition=condition)
    assert refused.value.status == 422 and refused.value.details["expression"] == condition


def test_given_a_segment_condition_then_the_flags_admins_keep_are_not_in_its_context() -> None:
    context = member_context(member(flags=["velocity"]), MONDAY, program())

    assert "flags" not in context and "velocity" not in context


def test_numbers_beyond_64_bits_in_the_context_are_read_as_doubles() -> None:
    # Order metadata may carry any number DynamoDB holds; CEL's int is 64-bit.
    context = {"order": {"metadata": {"ref": -1346432885422948779819008, "n": 2**63}}, "now": MONDAY}
    assert holds("order.metadata.ref < 0.0 && order.metadata.n > 1.0", context)
