"""Free-form maps hold only what DynamoDB can store: no empty keys at any depth, numbers it can hold."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from loyalty.domain.program import ProgramSettings
from loyalty.models import OrderRequest

ORDER = {"order_id": "o-1", "amount": 10, "currency": "EUR", "occurred_at": "2026-11-20T10:00:00Z"}


@pytest.mark.parametrize(
    "value",
    [1, -1.5, 0, 0.0, "", None, True, 1e-128, 9.99e125, 10**37, Decimal("1.2345678901234567890123456789012345678")],
)
def test_what_dynamodb_stores_is_kept(value: Any) -> None:
    metadata = {"a": {"b": [value, {"c": value}]}}
    assert OrderRequest.model_validate({**ORDER, "metadata": metadata}).metadata == metadata


@pytest.mark.parametrize(
    "metadata",
    [
        {"": 1},
        {"a": {"": 1}},
        {"a": [[{"": None}]]},
        {"x": 1e-200},
        {"x": 1e-129},
        {"x": 1e126},
        {"x": [10**38 + 1]},
        {"x": float("nan")},
        {"x": float("-inf")},
        {"x": Decimal("1.23456789012345678901234567890123456789")},
    ],
)
def test_what_dynamodb_refuses_is_a_validation_error(metadata: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="metadata"):
        OrderRequest.model_validate({**ORDER, "metadata": metadata})


def test_message_templates_need_an_event_type_and_a_language() -> None:
    template = {"subject": "s", "body": "b"}
    base = {"name": "P", "currency": "EUR"}
    assert ProgramSettings.model_validate({**base, "notification_templates": {"welcome": {"en": template}}})
    for templates in ({"": {"en": template}}, {"welcome": {"": template}}):
        with pytest.raises(ValidationError, match="empty key"):
            ProgramSettings.model_validate({**base, "notification_templates": templates})
