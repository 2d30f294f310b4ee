"""Item <-> model mapping for members, lots and ledger entries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from loyalty.domain.ledger import PROFILE_FIELDS, LedgerEntry, Lot, Member, Spend
from loyalty.domain.refunds import Refunded
from loyalty.store import keys
from loyalty.store.dynamo import to_item


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value and value != keys.NEVER else None


def member_item(member: Member) -> dict[str, Any]:
    return {
        "PK": keys.member_pk(member.program_id, member.member_id),
        "SK": keys.PROFILE,
        "OPEN_SK": keys.PROFILE_OPEN_SK,
        "type": "member",
        "program_id": member.program_id,
        "member_id": member.member_id,
        "status": member.status,
        "enrolled_at": keys.timestamp(member.enrolled_at),
        **{name: getattr(member, name) for name in PROFILE_FIELDS},
        "tier": member.tier,
        "balance": member.balance,
        "pending": member.pending,
        "lifetime_points": member.lifetime_points,
        "qualifying": member.qualifying,
        "reward_counts": member.reward_counts,
        "spend": member.spend,
        "orders": member.orders,
        "velocity": member.velocity,
        "flags": set(member.flags) or None,  # a string set: flags are added with ADD, each once
        "rule_points": member.rule_points,
        "debt": member.debt,
        "last_activity_at": keys.timestamp(member.last_activity_at) if member.last_activity_at else None,
        "version": member.version,
    }


def member_from_item(item: dict[str, Any]) -> Member:
    return Member(
        program_id=item["program_id"],
        member_id=item["member_id"],
        enrolled_at=datetime.fromisoformat(item["enrolled_at"]),
        status=item.get("status", "active"),
        **{name: item.get(name) for name in PROFILE_FIELDS if name not in ("attributes", "consents")},
        attributes=item.get("attributes") or {},
        consents=item.get("consents") or {},
        tier=item.get("tier"),
        balance=item.get("balance", 0),
        pending=item.get("pending", 0),
        lifetime_points=item.get("lifetime_points", 0),
        qualifying=item.get("qualifying") or {},
        reward_counts=item.get("reward_counts") or {},
        spend={month: Decimal(str(amount)) for month, amount in (item.get("spend") or {}).items()},
        orders=item.get("orders") or {},
        velocity=item.get("velocity") or {},
        flags=sorted(item.get("flags") or ()),
        rule_points=item.get("rule_points") or {},
        debt=item.get("debt", 0),
        reward_windows={
            name[len(keys.REWARD_WINDOW) :]: list(value)
            for name, value in item.items()
            if name.startswith(keys.REWARD_WINDOW)
        },
        last_activity_at=_time(item.get("last_activity_at")),
        version=item.get("version", 0),
    )


def entry_item(program_id: str, member_id: str, entry: LedgerEntry, outbox: list[dict[str, Any]]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": keys.member_pk(program_id, member_id),
        "SK": keys.entry_sk(entry.source_kind, entry.source_id),
        "LEDGER_SK": entry.transaction_id,
        "type": "entry",
        "program_id": program_id,
        "member_id": member_id,
        "transaction_id": entry.transaction_id,
        "kind": entry.kind,
        "source_kind": entry.source_kind,
        "source_id": entry.source_id,
        "points": entry.points,
        "recorded_at": keys.timestamp(entry.recorded_at),
        "occurred_at": keys.timestamp(entry.occurred_at),
        "request_hash": entry.request_hash,
        "spends": [{"lot_id": s.lot_id, "source": s.source, "points": s.points} for s in entry.spends] or None,
        "details": {key: value for key, value in entry.details.items() if value is not None} or None,
        "snapshot": entry.snapshot or None,
        "status": entry.status,
        "outbox_id": entry.transaction_id,
        "outbox": outbox,
    }
    lot = entry.lot
    if lot is not None:
        item.update(
            lot_points=lot.points,
            remaining=lot.remaining,
            available_at=keys.timestamp(lot.available_at),
            expires_at=keys.timestamp(lot.expires_at),
        )
        if lot.remaining > 0:
            item["OPEN_SK"] = keys.open_lot_sk(lot.expires_at, lot.lot_id)
            if lot.pending:
                # Pending lots wait in the activation index; activation moves them to the expiry index.
                item["pending_lot"] = True
                item.update(keys.due_index_keys(keys.AVAILABLE, program_id, member_id, lot.lot_id, lot.available_at))
            elif lot.expires_at is not None:
                due = keys.expiry_due(lot.expires_at, entry.recorded_at)
                item.update(keys.expiry_index_keys(program_id, member_id, lot.lot_id, due))
    return item


def entry_put(program_id: str, member_id: str, entry: LedgerEntry, outbox: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction's Put of a ledger entry under its source id: the condition makes each change happen once."""
    return {
        "Put": {
            "Item": to_item(entry_item(program_id, member_id, entry, outbox)),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def lot_from_item(item: dict[str, Any]) -> Lot:
    return Lot(
        lot_id=item["transaction_id"],
        source=f"{item['source_kind']}#{item['source_id']}",
        points=item["lot_points"],
        remaining=item["remaining"],
        earned_at=datetime.fromisoformat(item["occurred_at"]),
        available_at=datetime.fromisoformat(item["available_at"]),
        expires_at=_time(item.get("expires_at")),
        pending=bool(item.get("pending_lot")),
        reminded=set(item.get("reminded") or ()),
    )


def entry_from_item(item: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        transaction_id=item["transaction_id"],
        kind=item["kind"],
        source_kind=item["source_kind"],
        source_id=item["source_id"],
        points=item["points"],
        recorded_at=datetime.fromisoformat(item["recorded_at"]),
        occurred_at=datetime.fromisoformat(item["occurred_at"]),
        request_hash=item["request_hash"],
        lot=lot_from_item(item) if "lot_points" in item else None,
        spends=[Spend(s["lot_id"], s["source"], s["points"], 0) for s in item.get("spends", [])],
        details=item.get("details") or {},
        snapshot=item.get("snapshot") or {},
        status=item.get("status"),
    )


def refunded_from_item(item: dict[str, Any]) -> Refunded:
    """What earlier refunds took from an order (its earn entry's counters)."""
    return Refunded(
        refunds=item.get("refunds", 0),
        points=item.get("refunded_points", 0),
        amount=Decimal(item.get("refunded_amount", "0")),
        lines={line_id: int(quantity) for line_id, quantity in (item.get("refunded_lines") or {}).items()},
    )
