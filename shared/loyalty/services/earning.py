"""Earning: credit a member for an order or an activity, exactly once, through the program's earning rules."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ulid import ULID

from loyalty.domain import rules
from loyalty.domain.ledger import LedgerEntry, Member, credit, new_lot, request_hash, settle_debt, velocity_refusal
from loyalty.domain.program import ProgramConfig
from loyalty.domain.rules import RuleGrant
from loyalty.errors import InvalidState, NotFound, ValidationFailed
from loyalty.models import ActivityRequest, OrderRequest
from loyalty.services.answers import answer, replay
from loyalty.services.events import event
from loyalty.services.retry import attempts
from loyalty.services.schedule import inactivity_due
from loyalty.store.store import Cancelled, LoyaltyStore, RuleBudgetCounter

# What a credit's earning rules give a member, given what budgeted rules have left (when known).
GrantsFor = Callable[[Member, Mapping[str, int]], list[RuleGrant]]

# Tills run slightly fast; a sale stamped a few minutes ahead is still a sale.
CLOCK_SKEW = timedelta(minutes=5)


def earn_for_order(
    store: LoyaltyStore, config: ProgramConfig, member_id: str, order: OrderRequest, now: datetime
) -> tuple[dict[str, Any], bool]:
    """Points for an order: the base rate and the earning rules (see loyalty.domain.rules for the
    stacking), each rounded once. Returns (result, created)."""
    if order.currency != config.settings.currency:
        raise ValidationFailed(
            "order currency differs from the program's", field="currency", expected=config.settings.currency
        )
    payload = order.model_dump(mode="json")
    lines = rules.order_lines(order.amount, order.items)
    moment = rules.local_time(config, order.occurred_at)

    def grants_for(member: Member, budget_left: Mapping[str, int]) -> list[RuleGrant]:
        context = rules.order_context(config, member, order, moment)
        return rules.order_grants(config, member, lines, context, moment, budget_left)

    return _credit(
        store,
        config,
        member_id,
        source=("order", order.order_id),
        fingerprint=request_hash(payload),
        occurred_at=order.occurred_at,
        grants_for=grants_for,
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
        order_amount=order.amount,
    )


def earn_for_activity(
    store: LoyaltyStore, config: ProgramConfig, member_id: str, activity: ActivityRequest, now: datetime
) -> tuple[dict[str, Any], bool]:
    """Points for an activity: every earning rule for its type that applies gives its points; with
    none, the program's `activity_points` for the type. Returns (result, created)."""
    fallback = config.settings.activity_points.get(activity.activity_type)
    ruled = any(r.activity_type == activity.activity_type for r in config.earning_rules.values() if r.active)
    if fallback is None and not ruled:
        raise ValidationFailed(
            "no points are configured for this activity type",
            field="activity_type",
            configured=sorted(config.settings.activity_points),
        )
    moment = rules.local_time(config, activity.occurred_at)

    def grants_for(member: Member, budget_left: Mapping[str, int]) -> list[RuleGrant]:
        context = rules.activity_context(config, member, activity, moment)
        grants = rules.activity_grants(config, member, activity.activity_type, context, moment, budget_left)
        if grants is not None:
            return grants
        return [RuleGrant(f"activity:{activity.activity_type}", fallback)] if fallback is not None else []

    return _credit(
        store,
        config,
        member_id,
        source=("activity", activity.activity_id),
        fingerprint=request_hash(activity.model_dump(mode="json")),
        occurred_at=activity.occurred_at,
        grants_for=grants_for,
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
    grants_for: GrantsFor,
    details: dict[str, Any],
    now: datetime,
    order_amount: Decimal | None = None,
) -> tuple[dict[str, Any], bool]:
    source_kind, source_id = source
    # The ledger keeps whole seconds: the first answer and every replay must show the same instant.
    occurred_at = occurred_at.astimezone(UTC).replace(microsecond=0)
    if occurred_at > now + CLOCK_SKEW:
        raise ValidationFailed("occurred_at is in the future", field="occurred_at")
    program_id = config.program_id
    moment = rules.local_time(config, occurred_at)
    # A budgeted rule's counts are read only once a shard ran out; until then each earn tries one shard.
    spent: dict[str, list[int]] = {}
    first_shard = zlib.crc32(f"{source_kind}#{source_id}".encode())
    for _ in attempts():
        member, existing = store.get_member_and_entry(program_id, member_id, source_kind, source_id)
        if existing is not None:
            return replay(existing, fingerprint), False
        if member is None:
            raise NotFound("member not found", member_id=member_id)
        if member.erased:
            raise InvalidState("the member was erased", member_id=member_id)
        transaction_id = str(ULID.from_datetime(now))
        budget_left = {
            rule_id: (config.earning_rules[rule_id].budget or 0) - sum(counts) for rule_id, counts in spent.items()
        }
        grants = grants_for(member, budget_left)
        points = sum(grant.points for grant in grants)
        refusal = velocity_refusal(member, config, points, now)
        if refusal is not None:
            # The earn changes nothing; only the admins' flag is written, on its own (see flag_member).
            store.flag_member(program_id, member_id, "velocity")
            raise refusal
        budgets = _budget_counters(config, grants, spent, first_shard)
        lot = new_lot(config, transaction_id, f"{source_kind}#{source_id}", points, occurred_at, member.tier, now)
        debt_paid = settle_debt(member, lot)  # refund debt first (see domain/refunds.py)
        after, reached = credit(member, config, lot, now, order_amount)
        after = replace(after, rule_points=rules.count_capped(config, member.rule_points, grants, moment))
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
                "rules": [grant.record() for grant in grants],
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
            store.record_credit(
                member,
                after,
                entry,
                outbox,
                tier_review_at=review_at,
                due=inactivity_due(config, now),
                budgets=budgets,
            )
        except Cancelled as cancelled:
            if cancelled.failed("entry"):
                existing = cancelled.existing("entry") or store.get_entry(program_id, member_id, source_kind, source_id)
                if existing is not None:
                    return replay(existing, fingerprint), False
            if cancelled.failed("rule_budget"):
                # A budget shard ran out: read what every budgeted rule of this earn has left, plan again.
                for budget in budgets:
                    rule = config.earning_rules[budget.rule_id]
                    spent[budget.rule_id] = store.rule_budget_spent(program_id, budget.rule_id, rule.budget_shards())
            continue  # the profile or a budget moved under us: read again
        return answer(entry, program_id), True
    raise AssertionError("unreachable")  # attempts() raises Contention when exhausted


def _budget_counters(
    config: ProgramConfig, grants: list[RuleGrant], spent: Mapping[str, list[int]], first_shard: int
) -> tuple[RuleBudgetCounter, ...]:
    """The budget counter shards the grants of budgeted rules take their points from."""
    counters = []
    for grant in grants:
        rule = config.earning_rules.get(grant.rule_id)
        if rule is None or rule.budget is None:
            continue
        for shard, points in rules.budget_plan(rule, spent.get(grant.rule_id), grant.points, first_shard):
            counters.append(RuleBudgetCounter(grant.rule_id, shard, points, rule.shard_budget(shard) or 0))
    return tuple(counters)
