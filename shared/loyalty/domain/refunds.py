"""Refunds: which of an order's points a return claws back, and from where (no AWS).

Policy: a refund claws back exactly the points the refunded lines (or amount) earned, rule by
rule, never more than the order earned minus what earlier refunds clawed back. The points come
from the order's own lot first (pending or available), then the member's other spendable lots,
soonest-expiring first, then their other pending lots. What the member no longer has becomes
`debt`: the balance never goes below zero, and the next credits pay the debt before adding to the
balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from loyalty.domain.ledger import Lot, Member, Spend, month_key, spend_soonest_expiring_first
from loyalty.errors import ValidationFailed


@dataclass(frozen=True)
class OrderLine:
    line_id: str
    quantity: int
    unit_price: Decimal

    @property
    def value(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass
class Refunded:
    """What earlier refunds of an order took: kept on the order's earn entry."""

    refunds: int = 0
    points: int = 0
    amount: Decimal = Decimal(0)
    lines: dict[str, int] = field(default_factory=dict)  # line_id -> quantity refunded


@dataclass(frozen=True)
class Claw:
    """One refund's claw-back: points per rule, and the order's refunded state after it."""

    rules: dict[str, int]
    after: Refunded

    @property
    def points(self) -> int:
        return sum(self.rules.values())


@dataclass(frozen=True)
class Taking:
    """Where a claw-back's points come from."""

    own: Spend | None  # from the order's own lot
    own_pending: bool  # the own lot is still pending: its points leave `pending`, not `balance`
    others: list[Spend]  # other spendable lots
    debt: int
    others_pending: list[Spend] = field(default_factory=list)  # other lots still pending

    @property
    def from_balance(self) -> int:
        own = self.own.points if self.own is not None and not self.own_pending else 0
        return own + sum(s.points for s in self.others)

    @property
    def from_pending(self) -> int:
        own = self.own.points if self.own is not None and self.own_pending else 0
        return own + sum(s.points for s in self.others_pending)

    @property
    def spends(self) -> list[Spend]:
        return ([self.own] if self.own is not None else []) + self.others + self.others_pending


def largest_remainder(total: int, weights: dict[str, Decimal]) -> dict[str, int]:
    """`total` split in proportion to `weights`; the parts add up to `total` exactly.

    Each part gets its floor, then the units left go to the largest remainders (ties: first key).
    Zero weights all round share equally.
    """
    if not weights:
        return {}
    if sum(weights.values()) <= 0:
        weights = dict.fromkeys(weights, Decimal(1))
    whole = sum(weights.values())
    parts = {key: total * weight // whole for key, weight in weights.items()}
    remainders = {key: total * weight % whole for key, weight in weights.items()}
    left = total - sum(parts.values())
    order = sorted(weights, key=lambda key: -remainders[key])  # sorted() is stable: ties keep key order
    for key in order[: int(left)]:
        parts[key] += 1
    return {key: int(value) for key, value in parts.items()}


def points_by_line(rules: list[dict[str, Any]], lines: list[OrderLine]) -> dict[str, dict[str, int]]:
    """rule_id -> line_id -> the points that line earned under that rule.

    A rule that recorded its own per-line figures keeps them; otherwise (the base rate) its points
    are attributed to the lines pro rata by line value.
    """
    values = {line.line_id: line.value for line in lines}
    attributed: dict[str, dict[str, int]] = {}
    for rule in rules:
        recorded = rule.get("lines")
        if recorded is not None:
            attributed[rule["rule_id"]] = {line_id: int(points) for line_id, points in recorded.items()}
        else:
            attributed[rule["rule_id"]] = largest_remainder(int(rule["points"]), values)
    return attributed


def _capped(rules: dict[str, int], left: int, weights: dict[str, int]) -> dict[str, int]:
    """Per-rule points summing to at most `left` (the order's points not yet clawed back)."""
    if sum(rules.values()) <= left:
        return rules
    return largest_remainder(left, {rule_id: Decimal(points) for rule_id, points in weights.items()})


def claw_for_lines(
    rules: list[dict[str, Any]],
    earned: int,
    lines: list[OrderLine],
    refunded: Refunded,
    returned: dict[str, int],
) -> Claw:
    """Returned quantities: per rule, their share of each line's points; the last unit takes what is left."""
    bought = {line.line_id: line for line in lines}
    for line_id, quantity in returned.items():
        if line_id not in bought:
            raise ValidationFailed("the line is not in the order", field="lines", line_id=line_id)
        left = bought[line_id].quantity - refunded.lines.get(line_id, 0)
        if quantity > left:
            raise ValidationFailed(
                "more quantity than bought and not yet refunded", field="lines", line_id=line_id, refundable=left
            )
    by_line = points_by_line(rules, lines)
    clawed: dict[str, int] = {}
    for rule_id, line_points in by_line.items():
        total = 0
        for line_id, quantity in returned.items():
            points, bought_qty = line_points.get(line_id, 0), bought[line_id].quantity
            before = refunded.lines.get(line_id, 0)
            # Cumulative floors: the parts of a line add up to its points when all of it is returned.
            total += points * (before + quantity) // bought_qty - points * before // bought_qty
        clawed[rule_id] = total
    lines_after = {**refunded.lines}
    for line_id, quantity in returned.items():
        lines_after[line_id] = lines_after.get(line_id, 0) + quantity
    left = earned - refunded.points
    weights = {rule["rule_id"]: int(rule["points"]) for rule in rules}
    if all(lines_after.get(line.line_id, 0) == line.quantity for line in lines):
        # The whole order is back: points a rule gave the order itself (not a line) go too.
        unattributed = max(left - sum(clawed.values()), 0)
        # Each rule's share of it: what the rule gave beyond its lines.
        beyond = {r: Decimal(max(p - sum(by_line[r].values()), 0)) for r, p in weights.items()}
        extra = largest_remainder(
            unattributed, beyond if any(beyond.values()) else {r: Decimal(p) for r, p in weights.items()}
        )
        clawed = {rule_id: clawed.get(rule_id, 0) + extra.get(rule_id, 0) for rule_id in weights}
    clawed = _capped(clawed, left, weights)
    value = sum((bought[line_id].unit_price * quantity for line_id, quantity in returned.items()), Decimal(0))
    return Claw(
        clawed,
        Refunded(refunded.refunds + 1, refunded.points + sum(clawed.values()), refunded.amount + value, lines_after),
    )


def claw_for_amount(
    rules: list[dict[str, Any]], earned: int, order_amount: Decimal, refunded: Refunded, amount: Decimal
) -> Claw:
    """An amount: the order's points pro rata by amount / order amount; the last of the amount takes what is left."""
    left_amount = order_amount - refunded.amount
    if amount > left_amount:
        raise ValidationFailed(
            "the amount is above what is left to refund", field="amount", refundable=str(left_amount)
        )
    left = earned - refunded.points
    points = left if amount == left_amount else min(int(earned * amount // order_amount), left)
    weights = {rule["rule_id"]: Decimal(rule["points"]) for rule in rules}
    return Claw(
        largest_remainder(points, weights),
        Refunded(refunded.refunds + 1, refunded.points + points, refunded.amount + amount, refunded.lines),
    )


def claw_rest(
    rules: list[dict[str, Any]], earned: int, order_amount: Decimal, lines: list[OrderLine], refunded: Refunded
) -> Claw:
    """No lines and no amount: the rest of the order."""
    left = earned - refunded.points
    if left <= 0 and refunded.amount >= order_amount:
        raise ValidationFailed("the order is already refunded in full", field="refund")
    weights = {rule["rule_id"]: Decimal(rule["points"]) for rule in rules}
    return Claw(
        largest_remainder(left, weights),
        Refunded(refunded.refunds + 1, earned, order_amount, {line.line_id: line.quantity for line in lines}),
    )


def take(own_lot: Lot | None, lots: list[Lot], points: int, now: datetime) -> Taking:
    """The order's own lot first (pending or available), then other spendable lots soonest-expiring
    first, then other pending lots soonest-available first; what the member no longer has is debt.

    Pending points are the member's too: leaving them while adding debt would let them become
    spendable at activation while the member still owes."""
    own: Spend | None = None
    own_pending = False
    left = points
    if own_lot is not None and own_lot.remaining > 0 and (own_lot.pending or own_lot.spendable(now)):
        taken = min(own_lot.remaining, left)
        if taken > 0:
            own = Spend(own_lot.lot_id, own_lot.source, taken, own_lot.remaining)
            own_pending = own_lot.pending
            left -= taken
    others = [lot for lot in lots if own_lot is None or lot.lot_id != own_lot.lot_id]
    available = sum(lot.remaining for lot in others if lot.spendable(now))
    spends = spend_soonest_expiring_first(others, min(left, available), now)
    left -= sum(s.points for s in spends)
    pending: list[Spend] = []
    for lot in sorted((lot for lot in others if lot.pending), key=lambda lot: (lot.available_at, lot.lot_id)):
        taken = min(lot.remaining, left)
        if taken > 0:
            pending.append(Spend(lot.lot_id, lot.source, taken, lot.remaining))
            left -= taken
    return Taking(own, own_pending, spends, left, pending)


def member_after_refund(
    member: Member, earned_at: datetime, earned: int, order_amount: Decimal, before: Refunded, after: Refunded
) -> Member:
    """A returned purchase stops counting for the member: the order's month loses the refunded
    points from its qualifying points and the refunded amount from its spend, and the order leaves
    the month's order count once it is wholly refunded; lifetime points lose the points too.

    So a member cannot buy a tier (or a segment) and return the goods: the review that follows the
    tier's validity sees only what was kept (the tier itself never drops at a refund, as it never
    rises at a review). A month that already left the member's window is left as it is.
    """
    month = month_key(earned_at)

    def less(by_month: dict[str, Any], by: Any) -> dict[str, Any]:
        if month not in by_month:
            return by_month
        return {**by_month, month: max(by_month[month] - by, 0)}

    def whole(refunded: Refunded) -> bool:
        # Returned lines may not add up to the order amount (shipping): all its points back counts too.
        return refunded.amount >= order_amount or 0 < earned <= refunded.points

    wholly = whole(after) and not whole(before)
    return replace(
        member,
        qualifying=less(member.qualifying, after.points - before.points),
        spend=less(member.spend, after.amount - before.amount),
        orders=less(member.orders, 1) if wholly else member.orders,
        lifetime_points=max(member.lifetime_points - (after.points - before.points), 0),
    )
