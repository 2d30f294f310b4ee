"""Redemption: spend points on a reward, cancel it, and use its code at a till."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime
from typing import Any

from loyalty.domain.ledger import (
    LedgerEntry,
    Member,
    request_hash,
    settle_debt_from_refills,
    spend_soonest_expiring_first,
)
from loyalty.domain.program import ProgramConfig, Reward, redeemed_in_window, window_entry
from loyalty.errors import (
    ExclusiveConflict,
    InsufficientPoints,
    InvalidState,
    LimitReached,
    LoyaltyError,
    NotEligible,
    NotFound,
    OutOfStock,
    RewardInactive,
    ValidationFailed,
)
from loyalty.models import RedemptionRequest
from loyalty.services.answers import answer, replay
from loyalty.services.events import event
from loyalty.services.retry import attempts
from loyalty.services.schedule import inactivity_due
from loyalty.store.items import entry_from_item
from loyalty.store.store import Cancelled, LoyaltyStore, RewardCounter, RewardWindow

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a till


def new_code() -> str:
    """80 random bits in four groups, e.g. 7KQ2-M9XD-PA4T-W8HC: unguessable, easy to type."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def redemption_id_for(program_id: str, member_id: str, idempotency_key: str) -> str:
    """The same Idempotency-Key always names the same redemption, so a retry finds it."""
    digest = hashlib.sha256(f"{program_id}\x00{member_id}\x00{idempotency_key}".encode()).digest()
    return "rd_" + base64.b32encode(digest[:15]).decode().lower()


def counter_for(reward_id: str, reward: Reward, quantity: int, points: int, shard: int) -> RewardCounter | None:
    """The change to one shard of the reward's counter, when the reward has stock, a total limit or a budget."""
    shards = reward.counter_shards()
    if not shards:
        return None
    unit_cap, budget = reward.shard_caps(shard % shards)
    return RewardCounter(reward_id, shard % shards, quantity, points, unit_cap, budget)


def shard_with_room(reward: Reward, counts: list[dict[str, int]], quantity: int, points: int) -> int | None:
    """A counter shard whose share still fits this redemption (None: the reward is sold out)."""
    for shard, count in enumerate(counts):
        unit_cap, budget = reward.shard_caps(shard)
        units_fit = unit_cap is None or count["redeemed"] + quantity <= unit_cap
        points_fit = budget is None or count["points"] + points <= budget
        if units_fit and points_fit:
            return shard
    return None


def spread_over_shards(
    reward: Reward, counts: list[dict[str, int]], quantity: int, points: int
) -> list[tuple[int, int, int]] | None:
    """(shard, units, points) parts that together fit a redemption no single shard has room for.

    Shares add up to the cap, but a share smaller than one redemption's price would strand its
    remainder (a budget of 500 over 8 shards of 62 or 63 fits 48 redemptions of 10, not 50).
    Drawing the rest from other shards in the same transaction keeps every point of the cap usable.
    """
    units_left, points_left = quantity, points
    parts: list[tuple[int, int, int]] = []
    for shard, count in enumerate(counts):
        unit_cap, budget = reward.shard_caps(shard)
        unit_room = units_left if unit_cap is None else max(0, unit_cap - count["redeemed"])
        point_room = points_left if budget is None else max(0, budget - count["points"])
        take_units, take_points = min(units_left, unit_room), min(points_left, point_room)
        if take_units or take_points:
            parts.append((shard, take_units, take_points))
            units_left, points_left = units_left - take_units, points_left - take_points
        if not units_left and not points_left:
            return parts
    return None


def redemption_counters(
    reward_id: str, reward: Reward, quantity: int, points: int, shard: int, parts: list[tuple[int, int, int]] | None
) -> list[RewardCounter]:
    """The counter shards a redemption changes: its (shard, units, points) parts when it was spread
    over several, else its one shard (none when the reward keeps no counter)."""
    if parts:
        return [RewardCounter(reward_id, n, units, pts, *reward.shard_caps(n)) for n, units, pts in parts]
    single = counter_for(reward_id, reward, quantity, points, shard)
    return [single] if single else []


def counter_totals(store: LoyaltyStore, program_id: str, reward_id: str, reward: Reward) -> dict[str, int]:
    counts = store.reward_counters(program_id, reward_id, reward.counter_shards())
    return {"redeemed": sum(c["redeemed"] for c in counts), "points": sum(c["points"] for c in counts)}


def unavailable_reason(
    reward: Reward, member: Member, reward_id: str, quantity: int, now: datetime, config: ProgramConfig
) -> LoyaltyError | None:
    """Why this member cannot redeem the reward now, judged from config and profile alone."""
    if not reward.active:
        return RewardInactive("the reward is not active", reward_id=reward_id)
    if (reward.valid_from and now < reward.valid_from) or (reward.valid_until and now >= reward.valid_until):
        return RewardInactive("the reward is outside its validity dates", reward_id=reward_id)
    unit_cap, _ = reward.caps()
    if unit_cap is not None and quantity > unit_cap:
        return OutOfStock("the reward is out of stock", reward_id=reward_id)
    if reward.eligibility:
        from loyalty.domain.conditions import holds, member_context

        context = {"member": member_context(member, now, config), "now": now}
        if not holds(reward.eligibility, context):
            return NotEligible("the member is not eligible for this reward", reward_id=reward_id)
    per_member, days = reward.limits.per_member, reward.limits.per_member_period_days
    if per_member is not None:
        if days is None:
            used = member.reward_counts.get(reward_id, 0)
        else:
            used, _ = redeemed_in_window(member.reward_windows.get(reward_id, []), now, days)
        if used + quantity > per_member:
            period = {} if days is None else {"period_days": days}
            return LimitReached(
                "the member reached this reward's limit", reward_id=reward_id, limit=per_member, **period
            )
    return None


def window_for(reward: Reward, member: Member, reward_id: str, quantity: int, now: datetime) -> RewardWindow | None:
    """The profile's recent redemptions of a reward with a period limit, pruned and with this one added."""
    days = reward.limits.per_member_period_days
    if reward.limits.per_member is None or days is None:
        return None
    seen = member.reward_windows.get(reward_id)
    _, kept = redeemed_in_window(seen or [], now, days)
    return RewardWindow(seen, [*kept, window_entry(now, quantity)])


def redeem(
    store: LoyaltyStore,
    config: ProgramConfig,
    member_id: str,
    request: RedemptionRequest,
    idempotency_key: str,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Spend soonest-expiring lots on a reward: one transaction. Returns (result, created)."""
    program_id = config.program_id
    redemption_id = redemption_id_for(program_id, member_id, idempotency_key)
    fingerprint = request_hash(request.model_dump(mode="json", exclude_none=True))
    reward = config.rewards.get(request.reward_id)
    if reward is None:
        raise NotFound("reward not found", reward_id=request.reward_id)

    # Each redemption starts on its own counter shard, spreading a popular reward's writes.
    shard = int(hashlib.sha256(redemption_id.encode()).hexdigest(), 16) % max(reward.counter_shards(), 1)
    spread: list[tuple[int, int, int]] | None = None

    def replay_if_done() -> dict[str, Any] | None:
        existing = store.get_entry(program_id, member_id, "redemption", redemption_id)
        return replay(existing, fingerprint) if existing else None

    for _ in attempts():
        member, lots = store.get_member_and_open_lots(program_id, member_id)
        if member is None:
            raise NotFound("member not found", member_id=member_id)
        try:
            unit_points = reward.points_for(member.tier, request.points)
            cost = unit_points * request.quantity
            if member.erased:
                raise InvalidState("the member was erased", member_id=member_id)
            reason = unavailable_reason(reward, member, request.reward_id, request.quantity, now, config)
            if reason is not None:
                raise reason
            spends = spend_soonest_expiring_first(lots, cost, now)
        except LoyaltyError:
            # A retry of a redemption that already went through must get its answer, not a refusal.
            if (done := replay_if_done()) is not None:
                return done, False
            raise
        transaction_id = redemption_id
        code = new_code()
        balance = member.balance - cost
        entry = LedgerEntry(
            transaction_id=transaction_id,
            kind="redeem",
            source_kind="redemption",
            source_id=redemption_id,
            points=-cost,
            recorded_at=now,
            occurred_at=now,
            request_hash=fingerprint,
            spends=spends,
            status="issued",
            details={
                "reward_id": request.reward_id,
                "reward_type": reward.type,
                "quantity": request.quantity,
                "code": code,
                "value": reward.value_for(unit_points, request.quantity),
                "exclusivity_group": reward.exclusivity_group,
                "counter_shard": shard if reward.counter_shards() else None,
                # Set when the redemption drew on several shards: cancel gives each its part back.
                **({"counter_parts": [list(part) for part in spread]} if spread else {}),
            },
            snapshot={"balance": balance},
        )
        outbox = [
            event(
                "points.redeemed",
                program_id,
                member_id,
                transaction_id=transaction_id,
                points=cost,
                balance=balance,
            ),
            event(
                "reward.redeemed",
                program_id,
                member_id,
                transaction_id=transaction_id,
                redemption_id=redemption_id,
                reward_id=request.reward_id,
                reward_type=reward.type,
                quantity=request.quantity,
                points=cost,
            ),
        ]
        counters = redemption_counters(request.reward_id, reward, request.quantity, cost, shard, spread)
        window = window_for(reward, member, request.reward_id, request.quantity, now)
        # A period limit is held by the window's condition, a lifetime one by the profile's count.
        lifetime_limit = reward.limits.per_member if window is None else None
        try:
            store.record_redemption(
                member, entry, lifetime_limit, counters, outbox, due=inactivity_due(config, now), window=window
            )
        except Cancelled as cancelled:
            if cancelled.failed("entry") and (done := replay_if_done()) is not None:
                return done, False
            if cancelled.failed("counter") and counters:
                # This shard's share is used up: move to one with room, or refuse when none has any.
                counts = store.reward_counters(program_id, request.reward_id, reward.counter_shards())
                room = shard_with_room(reward, counts, request.quantity, cost)
                spread = None if room is not None else spread_over_shards(reward, counts, request.quantity, cost)
                if room is not None:
                    shard = room
                elif spread:
                    shard = spread[0][0]
                else:
                    raise _counter_refusal(reward, request.reward_id, counts, cost) from cancelled
            continue  # a lot or the balance moved: read again and re-plan the spend
        return answer(entry, program_id), True
    raise AssertionError("unreachable")


def _counter_refusal(reward: Reward, reward_id: str, counts: list[dict[str, int]], cost: int) -> LoyaltyError:
    redeemed, points = sum(c["redeemed"] for c in counts), sum(c["points"] for c in counts)
    budget = reward.limits.points_budget
    if budget is not None and points + cost > budget:
        return LimitReached("the reward's points budget is spent", reward_id=reward_id)
    if reward.stock is not None and redeemed >= reward.stock:
        return OutOfStock("the reward is out of stock", reward_id=reward_id)
    return LimitReached("the reward's total redemption limit is reached", reward_id=reward_id)


def cancel(
    store: LoyaltyStore, config: ProgramConfig, member_id: str, redemption_id: str, now: datetime
) -> tuple[dict[str, Any], bool]:
    """Give a redemption's points back to the very lots they came from."""
    program_id = config.program_id
    fingerprint = request_hash({"cancel": redemption_id})
    for _ in attempts():
        member, raw, done = store.get_member_and_entries(
            program_id, member_id, [("redemption", redemption_id), ("cancel", redemption_id)]
        )
        if done is not None:
            return replay(done, fingerprint), False
        if raw is None or raw.get("kind") != "redeem":
            raise NotFound("redemption not found", redemption_id=redemption_id)
        if raw.get("status") != "issued":
            raise InvalidState(f"the redemption is {raw.get('status')}", redemption_id=redemption_id)
        redemption = entry_from_item(raw)
        points = -redemption.points
        reward_id = redemption.details["reward_id"]
        if member is None:
            raise NotFound("member not found", member_id=member_id)
        lots = store.get_lots(program_id, member_id, redemption.spends)
        transaction_id = f"{redemption_id}_cancel"
        refills, debt_paid = settle_debt_from_refills(member.debt, redemption.spends)
        balance = member.balance + points - debt_paid
        paid = {"debt_paid": debt_paid, "debt": member.debt - debt_paid} if debt_paid else {}
        entry = LedgerEntry(
            transaction_id=transaction_id,
            kind="cancel",
            source_kind="cancel",
            source_id=redemption_id,
            points=points,
            recorded_at=now,
            occurred_at=now,
            request_hash=fingerprint,
            spends=refills,
            details={"reward_id": reward_id, "redemption_id": redemption_id},
            snapshot={"balance": balance, **paid},
        )
        outbox = [
            event(
                "points.reversed",
                program_id,
                member_id,
                transaction_id=transaction_id,
                points=points,
                balance=balance,
                reason="redemption_cancelled",
                redemption_id=redemption_id,
                **paid,
            )
        ]
        reward = config.rewards.get(reward_id)
        shard = redemption.details.get("counter_shard") or 0
        parts = [(int(n), int(q), int(p)) for n, q, p in redemption.details.get("counter_parts") or ()]
        quantity = redemption.details["quantity"]
        counters = redemption_counters(reward_id, reward, quantity, points, shard, parts) if reward else []
        window = None
        seen = member.reward_windows.get(reward_id)
        mine = window_entry(redemption.recorded_at, redemption.details["quantity"])
        if seen and mine in seen:
            after = list(seen)
            after.remove(mine)
            window = RewardWindow(seen, after)
        try:
            store.record_cancellation(member, redemption, entry, lots, counters, outbox, window=window)
        except Cancelled:
            continue  # consumed or cancelled meanwhile, or a lot moved: look again
        return answer(entry, program_id), True
    raise AssertionError("unreachable")


def consume_code(
    store: LoyaltyStore, program_id: str, code: str, order_id: str | None, now: datetime
) -> tuple[dict[str, Any], bool]:
    """A till uses a code once; the same till retrying with the same order gets the same answer.

    A code whose reward has an exclusivity group is refused on an order that already used a code
    of that group (one marker per order and group, claimed in the same transaction).
    """
    found = store.find_redemption_by_code(program_id, code.upper())
    if found is None:
        raise NotFound("code not found", code=code)
    member_id, details = found["member_id"], found["details"]
    group = details.get("exclusivity_group")
    answer = {
        "redemption_id": found["source_id"],
        "member_id": member_id,
        "reward_id": details["reward_id"],
        "reward_type": details.get("reward_type"),
        "quantity": details["quantity"],
        "value": details.get("value"),
        "exclusivity_group": group,
        "order_id": order_id,
        "status": "consumed",
    }
    for _ in attempts():
        status = found.get("status")
        if status == "consumed":
            if order_id and found.get("consumed_order_id") == order_id:
                return answer, False
            raise InvalidState("the code was already used", code=code)
        if status != "issued":
            raise InvalidState(f"the redemption is {status}", code=code)
        try:
            store.consume_redemption(
                program_id, member_id, found["source_kind"], found["source_id"], order_id, group, now
            )
        except Cancelled as cancelled:
            if cancelled.failed("exclusivity") and not cancelled.failed("redemption"):
                holder = cancelled.existing("exclusivity") or {}
                raise ExclusiveConflict(
                    "another code of this exclusivity group was already used on this order",
                    code=code,
                    order_id=order_id,
                    exclusivity_group=group,
                    redemption_id=holder.get("redemption_id"),
                ) from cancelled
            # Used, cancelled or raced meanwhile: judge again from what is stored now.
            found = store.get_entry(program_id, member_id, found["source_kind"], found["source_id"]) or found
            continue
        return answer, True
    raise AssertionError("unreachable")


def require_idempotency_key(value: str | None) -> str:
    if not value or not value.strip():
        raise ValidationFailed("the Idempotency-Key header is required", field="Idempotency-Key")
    key = value.strip()
    if len(key) > 128:
        raise ValidationFailed("the Idempotency-Key header is too long (128 at most)", field="Idempotency-Key")
    return key


def rewards_for_member(store: LoyaltyStore, config: ProgramConfig, member_id: str, now: datetime) -> dict[str, Any]:
    """Every reward with this member's price and, where they cannot redeem it now, the reason."""
    member, lots = store.get_member_and_open_lots(config.program_id, member_id)
    if member is None:
        raise NotFound("member not found", member_id=member_id)
    spendable = sum(lot.remaining for lot in lots if lot.spendable(now))
    rewards = []
    for reward_id, reward in sorted(config.rewards.items()):
        cost = reward.cost_for(member.tier)
        reason = unavailable_reason(reward, member, reward_id, 1, now, config)
        if reason is None and reward.caps() != (None, None):
            counts = counter_totals(store, config.program_id, reward_id, reward)
            unit_cap, budget = reward.caps()
            if reward.stock is not None and counts.get("redeemed", 0) >= reward.stock:
                reason = OutOfStock("the reward is out of stock")
            elif unit_cap is not None and counts.get("redeemed", 0) >= unit_cap:
                reason = LimitReached("the reward's total redemption limit is reached")
            elif budget is not None and counts.get("points", 0) + cost > budget:
                reason = LimitReached("the reward's points budget is spent")
        if reason is None and spendable < cost:
            reason = InsufficientPoints("the member does not have enough points", required=cost, available=spendable)
        rewards.append(
            {
                "reward_id": reward_id,
                "name": reward.name,
                "type": reward.type,
                "cost": cost,
                "value": reward.value.model_dump(mode="json", exclude_none=True) if reward.value else None,
                "exclusivity_group": reward.exclusivity_group,
                "available": reason is None,
                "reason": reason.code if reason else None,
            }
        )
    return {"member_id": member_id, "balance": member.balance, "rewards": rewards}
