"""Earning: credit a member for an order or an activity, exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ulid import ULID

from loyalty.domain.ledger import (
    LedgerEntry,
    Member,
    credit,
    new_lot,
    points_for_amount,
    request_hash,
    settle_debt,
)
from loyalty.domain.program import ProgramConfig
from loyalty.errors import InvalidState, NotFound, ValidationFailed
from loyalty.models import ActivityRequest, OrderRequest
from loyalty.services.answers import answer, replay
from loyalty.services.events import event
from loyalty.services.retry import attempts
from loyalty.services.schedule import inactivity_due
from loyalty.store.store import Cancelled, LoyaltyStore

# Tills run slightly fast; a sale stamped a few minutes ahead is still a sale.
CLOCK_SKEW = timedelta(minutes=5)


def earn_for_order(
    store: LoyaltyStore, config: ProgramConfig, member_id: str, order: OrderRequest, now: datetime
) -> tuple[dict[str, Any], bool]:
    """Points for an order: floor(amount x earn rate x tier multiplier). Returns (result, created)."""
    if order.currency != config.settings.currency:
        raise ValidationFailed(
            "order currency differs from the program's", field="currency", expected=config.settings.currency
        )
    payload = order.model_dump(mode="json")
    return _credit(
        store,
        config,
        member_id,
        source=("order", order.order_id),
        fingerprint=request_hash(payload),
        occurred_at=order.occurred_at,
        points_for=lambda member: points_for_amount(config, order.amount, member.tier),
        details={
            "amount": str(order.amount),
            "currency": order.currency,
            "channel": order.channel,
            # What a refund needs to attribute the order's points to its lines.
            "lines": [
                {"line_id": line.line_id, "quantity": line.quantity, "unit_price": str(line.unit_price)}
                for line in order.items
            ]
            or None,
        },
        now=now,
    )


def earn_for_activity(
    store: LoyaltyStore, config: ProgramConfig, member_id: str, activity: ActivityRequest, now: datetime
) -> tuple[dict[str, Any], bool]:
    points = config.settings.activity_points.get(activity.activity_type)
    if points is None:
        raise ValidationFailed(
            "no points are configured for this activity type",
            field="activity_type",
            configured=sorted(config.settings.activity_points),
        )
    return _credit(
        store,
        config,
        member_id,
        source=("activity", activity.activity_id),
        fingerprint=request_hash(activity.model_dump(mode="json")),
        occurred_at=activity.occurred_at,
        points_for=lambda member: points,
        details={"activity_type": activity.activity_type},
        now=now,
    )


def _credit(
    store: LoyaltyStore,
    config: ProgramConfig,
    member_id: str,
    source: tuple[str, str],
    fingerprint: str,
    occurred_at: datetime,
    points_for: Callable[[Member], int],
    details: dict[str, Any],
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    source_kind, source_id = source
    # The ledger keeps whole seconds: the first answer and every replay must show the same instant.
    occurred_at = occurred_at.astimezone(UTC).replace(microsecond=0)
    if occurred_at > now + CLOCK_SKEW:
        raise ValidationFailed("occurred_at is in the future", field="occurred_at")
    program_id = config.program_id
    for _ in attempts():
        member, existing = store.get_member_and_entry(program_id, member_id, source_kind, source_id)
        if existing is not None:
            return replay(existing, fingerprint), False
        if member is None:
            raise NotFound("member not found", member_id=member_id)
        if member.erased:
            raise InvalidState("the member was erased", member_id=member_id)
        transaction_id = str(ULID.from_datetime(now))
        points = points_for(member)
        lot = new_lot(config, transaction_id, f"{source_kind}#{source_id}", points, occurred_at, member.tier, now)
        debt_paid = settle_debt(member, lot)  # refund debt first (see domain/refunds.py)
        after, reached = credit(member, config, lot, now)
        rule_id = "base_rate" if source_kind == "order" else f"activity:{details.get('activity_type')}"
        expires_at = lot.expires_at.isoformat() if lot.expires_at else None
        entry = LedgerEntry(
            transaction_id=transaction_id,
            kind="earn",
            source_kind=source_kind,
            source_id=source_id,
            points=points,
            recorded_at=now,
            occurred_at=occurred_at,
            request_hash=fingerprint,
            lot=lot,
            details=details,
            snapshot={
                "balance": after.balance,
                "pending": after.pending,
                "tier": after.tier,
                "rules": [{"rule_id": rule_id, "points": points}],
                **({"debt": after.debt, "debt_paid": debt_paid} if debt_paid else {}),
            },
        )
        outbox = [
            event(
                "points.earned",
                program_id,
                member_id,
                transaction_id=transaction_id,
                points=points,
                balance=after.balance,
                source={"kind": source_kind, "id": source_id},
                expires_at=expires_at,
            )
        ]
        if reached is not None:
            outbox.append(
                event(
                    "tier.changed", program_id, member_id, transaction_id=transaction_id, old=member.tier, new=reached
                )
            )
        review_at = now + timedelta(days=config.settings.tier_window_days) if reached is not None else None
        try:
            store.record_credit(member, after, entry, outbox, tier_review_at=review_at, due=inactivity_due(config, now))
        except Cancelled as cancelled:
            if cancelled.failed("entry"):
                existing = cancelled.existing("entry") or store.get_entry(program_id, member_id, source_kind, source_id)
                if existing is not None:
                    return replay(existing, fingerprint), False
            continue  # the profile moved under us: read again
        return answer(entry, program_id), True
    raise AssertionError("unreachable")  # attempts() raises Contention when exhausted
