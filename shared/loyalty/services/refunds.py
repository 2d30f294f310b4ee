"""Refunds: claw back the points an order's returned lines (or amount) earned, exactly once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ulid import ULID

from loyalty.domain.ledger import LedgerEntry, request_hash
from loyalty.domain.program import ProgramConfig
from loyalty.domain.refunds import (
    OrderLine,
    claw_for_amount,
    claw_for_lines,
    claw_rest,
    member_after_refund,
    take,
)
from loyalty.errors import InvalidState, NotFound, ValidationFailed
from loyalty.models import RefundRequest
from loyalty.services.answers import answer, replay
from loyalty.services.events import event
from loyalty.services.retry import attempts
from loyalty.store.items import entry_from_item, refunded_from_item
from loyalty.store.store import Cancelled, LoyaltyStore


def refund(
    store: LoyaltyStore, config: ProgramConfig, member_id: str, order_id: str, request: RefundRequest, now: datetime
) -> tuple[dict[str, Any], bool]:
    """One transaction: the reverse entry, the order's refunded counters, the lots and the profile."""
    if request.currency is not None and request.currency != config.settings.currency:
        raise ValidationFailed(
            "refund currency differs from the program's", field="currency", expected=config.settings.currency
        )
    program_id = config.program_id
    fingerprint = request_hash({"order_id": order_id, **request.model_dump(mode="json")})
    for _ in attempts():
        _, raw_order, done = store.get_member_and_entries(
            program_id, member_id, [("order", order_id), ("refund", request.refund_id)]
        )
        if done is not None:
            return replay(done, fingerprint), False
        if raw_order is None or raw_order.get("kind") != "earn":
            raise NotFound("order not found", order_id=order_id)
        # The profile and lots after the order entry: the profile's version guards the plan.
        member, lots = store.get_member_and_open_lots(program_id, member_id)
        if member is None:
            raise NotFound("member not found", member_id=member_id)
        if member.erased:
            raise InvalidState("the member was erased", member_id=member_id)
        order = entry_from_item(raw_order)
        before = refunded_from_item(raw_order)
        rules = order.snapshot.get("rules") or [{"rule_id": "base_rate", "points": order.points}]
        lines = [
            OrderLine(line["line_id"], int(line["quantity"]), Decimal(line["unit_price"]))
            for line in order.details.get("lines") or ()
        ]
        order_amount = Decimal(order.details["amount"])
        if request.lines is not None:
            returned = {line.line_id: line.quantity for line in request.lines}
            claw = claw_for_lines(rules, order.points, lines, before, returned)
        elif request.amount is not None:
            claw = claw_for_amount(rules, order.points, order_amount, before, request.amount)
        else:
            claw = claw_rest(rules, order.points, order_amount, lines, before)
        own_lot = next((lot for lot in lots if order.lot is not None and lot.lot_id == order.lot.lot_id), None)
        taking = take(own_lot, lots, claw.points, now)
        transaction_id = str(ULID.from_datetime(now))
        balance = member.balance - taking.from_balance
        pending = member.pending - taking.from_pending
        debt = member.debt + taking.debt
        entry = LedgerEntry(
            transaction_id=transaction_id,
            kind="reverse",
            source_kind="refund",
            source_id=request.refund_id,
            # Everything clawed back, debt included: sum of the ledger = balance + pending - debt.
            points=-claw.points,
            recorded_at=now,
            occurred_at=now,
            request_hash=fingerprint,
            spends=taking.spends,
            details={
                "order_id": order_id,
                "lines": {line.line_id: line.quantity for line in request.lines} if request.lines else None,
                "amount": str(request.amount) if request.amount is not None else None,
                "rules": [{"rule_id": rule_id, "points": points} for rule_id, points in claw.rules.items()],
                "pending": taking.from_pending,
                "debt_added": taking.debt,
            },
            snapshot={"balance": balance, "pending": pending, "debt": debt},
        )
        outbox = [
            event(
                "points.reversed",
                program_id,
                member_id,
                transaction_id=transaction_id,
                points=claw.points,
                balance=balance,
                debt=debt,
                reason="refund",
                refund_id=request.refund_id,
                order_id=order_id,
            )
        ]
        earned_at = order.lot.earned_at if order.lot is not None else order.occurred_at
        counted = member_after_refund(member, earned_at, order.points, order_amount, before, claw.after)
        try:
            store.record_refund(member, counted, order, before, claw.after, taking, entry, outbox)
        except Cancelled as cancelled:
            if cancelled.failed("entry"):
                existing = cancelled.existing("entry") or store.get_entry(
                    program_id, member_id, "refund", request.refund_id
                )
                if existing is not None:
                    return replay(existing, fingerprint), False
            continue  # another refund of the order, a lot or the profile moved: read again and re-plan
        return answer(entry, program_id), True
    raise AssertionError("unreachable")  # attempts() raises Contention when exhausted
