"""Builders for the unit tier: program configs, members and lots as plain values (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from loyalty.domain.ledger import Lot, Member
from loyalty.domain.program import ProgramConfig, ProgramSettings, Segment, Tier

T0 = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
EARNED = datetime(2025, 1, 1, tzinfo=UTC)  # the default earn moment of a test lot


def utc(*parts: int) -> datetime:
    """`utc(2025, 1, 31)` or `utc(2025, 1, 31, 23, 30)`: an aware UTC moment."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def program(
    *,
    expiry: dict[str, Any] | None = None,
    tiers: dict[str, Tier] | None = None,
    segments: dict[str, str] | None = None,
    program_id: str = "prog-1",
    **settings: Any,
) -> ProgramConfig:
    """A program with sane defaults; any ProgramSettings field can be overridden; segments by id: condition."""
    fields: dict[str, Any] = {"name": "Test programme", "currency": "EUR", **settings}
    if expiry is not None:
        fields["expiry"] = expiry
    return ProgramConfig(
        program_id=program_id,
        settings=ProgramSettings.model_validate(fields),
        tiers=tiers or {},
        segments={sid: Segment(name=sid, condition=condition) for sid, condition in (segments or {}).items()},
    )


def tier(threshold: int, multiplier: str = "1", expiry_days: int | None = None, name: str | None = None) -> Tier:
    return Tier(
        name=name or f"tier-{threshold}",
        threshold=threshold,
        earn_multiplier=multiplier,  # type: ignore[arg-type]
        expiry_days=expiry_days,
    )


def standard_tiers() -> dict[str, Tier]:
    """bronze (0), silver (1,000, x1.25), gold (5,000, x1.5)."""
    return {
        "bronze": tier(0, "1", name="Bronze"),
        "silver": tier(1_000, "1.25", name="Silver"),
        "gold": tier(5_000, "1.5", name="Gold"),
    }


def member(**overrides: Any) -> Member:
    fields: dict[str, Any] = {"program_id": "prog-1", "member_id": "mem-1", "enrolled_at": utc(2024, 1, 1)}
    fields.update(overrides)
    return Member(**fields)


def lot(
    lot_id: str,
    remaining: int,
    *,
    expires_at: datetime | None,
    earned_at: datetime = EARNED,
    available_at: datetime | None = None,
    points: int | None = None,
) -> Lot:
    return Lot(
        lot_id=lot_id,
        source=f"order#{lot_id}",
        points=points if points is not None else remaining,
        remaining=remaining,
        earned_at=earned_at,
        available_at=available_at or earned_at,
        expires_at=expires_at,
    )
