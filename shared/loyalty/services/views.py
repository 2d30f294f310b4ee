"""How members, ledger entries and lots are shown to callers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from loyalty.domain.conditions import member_context
from loyalty.domain.ledger import PROFILE_FIELDS, LedgerEntry, Lot, Member
from loyalty.domain.program import ProgramConfig

EXPIRING_SOON_DAYS = 30


def member_view(
    member: Member, lots: list[Lot], now: datetime, config: ProgramConfig, *, for_admin: bool
) -> dict[str, Any]:
    """The profile with balance, aggregates and segments; fraud `flags` only for admins."""
    soon = now + timedelta(days=EXPIRING_SOON_DAYS)
    context = member_context(member, now, config)
    expiring = [lot for lot in lots if lot.spendable(now) and lot.expires_at is not None and lot.expires_at <= soon]
    return {
        "program_id": member.program_id,
        "member_id": member.member_id,
        "status": member.status,
        "tier": member.tier,
        "balance": member.balance,
        "pending": member.pending,
        "debt": member.debt,
        "lifetime_points": member.lifetime_points,
        "spend_365d": {"amount": float(context["spend_365d"]), "currency": config.settings.currency},
        "orders_365d": context["orders_365d"],
        "days_since_enrollment": context["days_since_enrollment"],
        "birthday_today": context["birthday_today"],
        "segments": context["segments"],
        **({"flags": member.flags} if for_admin else {}),
        "enrolled_at": member.enrolled_at.isoformat(),
        "last_activity_at": member.last_activity_at.isoformat() if member.last_activity_at else None,
        **{name: getattr(member, name) for name in PROFILE_FIELDS},
        "expiring_soon": {
            "within_days": EXPIRING_SOON_DAYS,
            "points": sum(lot.remaining for lot in expiring),
            "next_expiry": min((lot.expires_at for lot in expiring if lot.expires_at), default=None),
        },
    }


def transaction_view(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "transaction_id": entry.transaction_id,
        "kind": entry.kind,
        "source": {"kind": entry.source_kind, "id": entry.source_id},
        "points": entry.points,
        "recorded_at": entry.recorded_at.isoformat(),
        "occurred_at": entry.occurred_at.isoformat(),
        "status": entry.status,
        "lots": [{"lot_id": s.lot_id, "points": s.points} for s in entry.spends]
        or ([{"lot_id": entry.lot.lot_id, "points": entry.lot.points}] if entry.lot else []),
        "details": entry.details,
    }


def lot_view(lot: Lot) -> dict[str, Any]:
    return {
        "lot_id": lot.lot_id,
        "source": lot.source,
        "points": lot.points,
        "remaining": lot.remaining,
        "earned_at": lot.earned_at.isoformat(),
        "available_at": lot.available_at.isoformat(),
        "expires_at": lot.expires_at.isoformat() if lot.expires_at else None,
    }


TRANSACTION_CSV_COLUMNS = ("transaction_id", "recorded_at", "kind", "source_kind", "source_id", "points", "status")


def transactions_csv(entries: Iterable[LedgerEntry]) -> str:
    """A member's ledger for support teams: a header, then one line per transaction as given (newest first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRANSACTION_CSV_COLUMNS)
    for e in entries:
        row = (e.transaction_id, e.recorded_at.isoformat(), e.kind, e.source_kind, e.source_id, e.points, e.status)
        writer.writerow([_csv_cell(value) for value in row])
    return out.getvalue()


def _csv_cell(value: object) -> object:
    # A spreadsheet runs a cell starting with = + - @ as a formula, and source ids are the caller's text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value
