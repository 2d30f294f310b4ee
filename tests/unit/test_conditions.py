"""CEL conditions: checked when saved, evaluated against the member, order and now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loyalty.domain.conditions import check, holds, member_context
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
