"""The events a state change publishes (written to the outbox in the same transaction)."""

from __future__ import annotations

from typing import Any


def event(event_type: str, program_id: str, member_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "program_id": program_id, "member_id": member_id, **fields}
