"""Reads and writes of the scheduled jobs: due work from the sparse index, one transaction per change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.domain.ledger import LedgerEntry
from loyalty.store import keys
from loyalty.store.dynamo import to_attr, to_item
from loyalty.store.items import entry_put


@dataclass(frozen=True)
class Due:
    """A change to one of a member's due items, written in the transaction of the change that causes it."""

    kind: str  # "inactivity" | "welcome" | "birthday"
    at: datetime | None = None  # when it is due (inactivity, welcome)
    month_day: str | None = None  # "MM-DD" (birthday)
    remove: bool = False


def due_part(program_id: str, member_id: str, due: Due) -> tuple[str, dict[str, Any]]:
    key = {"PK": keys.member_pk(program_id, member_id), "SK": keys.due_sk(due.kind)}
    if due.remove:
        return f"due_{due.kind}", {"Delete": {"Key": to_item(key)}}
    if due.kind == "birthday":
        assert due.month_day is not None
        index = {"GSI1PK": keys.birthday_partition(due.month_day, program_id, member_id), "GSI1SK": member_id}
        when = due.month_day
    else:
        assert due.at is not None
        job = keys.EXPIRING if due.kind == "inactivity" else keys.ENROLLED
        index = keys.due_index_keys(job, program_id, member_id, due.kind, due.at)
        when = keys.timestamp(due.at)
    item = {**key, "type": "due", "kind": due.kind, "program_id": program_id, "member_id": member_id, "due_at": when}
    return f"due_{due.kind}", {"Put": {"Item": to_item({**item, **index})}}


class JobStoreMixin:
    """Mixed into LoyaltyStore: it supplies `_query`, `_transact` and `_get`."""

    def due_in(self, partition: str) -> list[dict[str, Any]]:
        """Every item of one index partition (birthdays: no time order to bound)."""
        return self._query_all(  # type: ignore[attr-defined]
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": to_attr(partition)},
        )

    def record_inactivity_expiry(
        self, due: dict[str, Any], lots: list[dict[str, Any]], entry: LedgerEntry, outbox: list[dict[str, Any]]
    ) -> None:
        """A member inactive for too long loses every available point: the due item (unchanged
        since it was read, so no activity came in between), each lot, one ledger entry, the balance."""
        program_id, member_id = due["program_id"], due["member_id"]
        pk = keys.member_pk(program_id, member_id)
        total = -entry.points
        parts: list[tuple[str, dict[str, Any]]] = [
            (
                "due",
                {
                    "Delete": {
                        "Key": to_item({"PK": pk, "SK": due["SK"]}),
                        "ConditionExpression": "due_at = :due",
                        "ExpressionAttributeValues": to_item({":due": due["due_at"]}),
                    }
                },
            ),
            ("entry", entry_put(program_id, member_id, entry, outbox)),
            (
                "profile",
                {
                    "Update": {
                        "Key": to_item({"PK": pk, "SK": keys.PROFILE}),
                        "UpdateExpression": "SET balance = balance - :points",
                        "ConditionExpression": "balance >= :points",
                        "ExpressionAttributeValues": to_item({":points": total}),
                    }
                },
            ),
        ]
        for lot in lots:
            parts.append(
                (
                    f"lot:{lot['transaction_id']}",
                    {
                        "Update": {
                            "Key": to_item({"PK": pk, "SK": lot["SK"]}),
                            "UpdateExpression": "SET remaining = :zero,"
                            " expired_points = if_not_exists(expired_points, :zero) + :points"
                            " REMOVE OPEN_SK, GSI1PK, GSI1SK",
                            "ConditionExpression": "remaining = :points AND attribute_not_exists(pending_lot)",
                            "ExpressionAttributeValues": to_item({":zero": 0, ":points": lot["remaining"]}),
                        }
                    },
                )
            )
        self._transact(parts)  # type: ignore[attr-defined]

    def due_items(
        self, job: str, day: str, shard: int, until: datetime, start: dict[str, Any] | None = None, limit: int = 200
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """A page of one job's index partition, due at or before `until`."""
        # Sort keys start with the due time; '$' sorts right after '#', so this bound includes `until` itself.
        bound = keys.timestamp(until) + "$"
        return self._query(  # type: ignore[attr-defined]
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk AND GSI1SK < :bound",
            ExpressionAttributeValues={
                ":pk": to_attr(keys.due_partition(job, day, shard)),
                ":bound": to_attr(bound),
            },
            Limit=limit,
            **({"ExclusiveStartKey": start} if start else {}),
        )

    def record_expiry(self, lot: dict[str, Any], entry: LedgerEntry, outbox: list[dict[str, Any]]) -> None:
        """A lot's remaining points leave the balance: lot, ledger entry and profile in one transaction.

        The lot's `remaining` and `expirations` are conditions, so a second sweep (or a
        redemption that got there first) cancels this one instead of expiring twice.
        """
        program_id, member_id = lot["program_id"], lot["member_id"]
        pk = keys.member_pk(program_id, member_id)
        points = -entry.points
        expirations = lot.get("expirations", 0)
        self._transact(  # type: ignore[attr-defined]
            [
                ("entry", entry_put(program_id, member_id, entry, outbox)),
                (
                    "lot",
                    {
                        "Update": {
                            "Key": to_item({"PK": pk, "SK": lot["SK"]}),
                            "UpdateExpression": "SET remaining = :zero, expirations = :next,"
                            " expired_points = if_not_exists(expired_points, :zero) + :points"
                            " REMOVE OPEN_SK, GSI1PK, GSI1SK",
                            "ConditionExpression": "remaining = :points AND attribute_not_exists(pending_lot)"
                            " AND (attribute_not_exists(expirations) OR expirations = :count)",
                            "ExpressionAttributeValues": to_item(
                                {":zero": 0, ":points": points, ":count": expirations, ":next": expirations + 1}
                            ),
                        }
                    },
                ),
                (
                    "profile",
                    {
                        "Update": {
                            "Key": to_item({"PK": pk, "SK": keys.PROFILE}),
                            "UpdateExpression": "SET balance = balance - :points",
                            "ConditionExpression": "balance >= :points",
                            "ExpressionAttributeValues": to_item({":points": points}),
                        }
                    },
                ),
            ]
        )

    def record_activation(self, lot: dict[str, Any], expiry_due: datetime | None) -> None:
        """A pending lot becomes spendable: it moves from the activation to the expiry index (under
        `expiry_due`), its points from `pending` to `balance` (no ledger entry: the points were already credited)."""
        program_id, member_id = lot["program_id"], lot["member_id"]
        pk = keys.member_pk(program_id, member_id)
        points = lot["remaining"]
        if expiry_due is not None:
            index = keys.expiry_index_keys(program_id, member_id, lot["transaction_id"], expiry_due)
            move = "SET GSI1PK = :gsi1pk, GSI1SK = :gsi1sk REMOVE pending_lot"
            values: dict[str, Any] = {":gsi1pk": index["GSI1PK"], ":gsi1sk": index["GSI1SK"], ":points": points}
        else:
            move = "REMOVE pending_lot, GSI1PK, GSI1SK"
            values = {":points": points}
        self._transact(  # type: ignore[attr-defined]
            [
                (
                    "lot",
                    {
                        "Update": {
                            "Key": to_item({"PK": pk, "SK": lot["SK"]}),
                            "UpdateExpression": move,
                            "ConditionExpression": "attribute_exists(pending_lot) AND remaining = :points",
                            "ExpressionAttributeValues": to_item(values),
                        }
                    },
                ),
                (
                    "profile",
                    {
                        "Update": {
                            "Key": to_item({"PK": pk, "SK": keys.PROFILE}),
                            "UpdateExpression": "SET balance = balance + :points, pending = pending - :points",
                            "ConditionExpression": "pending >= :points",
                            "ExpressionAttributeValues": to_item({":points": points}),
                        }
                    },
                ),
            ]
        )

    def record_reminder(
        self,
        program_id: str,
        member_id: str,
        reminder_id: str,
        lots: list[tuple[dict[str, Any], int]],
        outbox: list[dict[str, Any]],
        expires_at: datetime,
    ) -> None:
        """A reminder, once: its own marker item (which carries the event) and, for an
        expiry reminder, the window marked on every lot it names."""
        pk = keys.member_pk(program_id, member_id)
        parts: list[tuple[str, dict[str, Any]]] = [
            (
                "reminder",
                {
                    "Put": {
                        "Item": to_item(
                            {
                                "PK": pk,
                                "SK": f"REMINDER#{reminder_id}",
                                "type": "reminder",
                                "outbox_id": reminder_id,
                                "outbox": outbox,
                                # Markers outlive every window they guard, then TTL removes them.
                                "ttl": int(expires_at.timestamp()),
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            )
        ]
        for lot, window in lots:
            parts.append(
                (
                    f"lot:{lot['transaction_id']}",
                    {
                        "Update": {
                            "Key": to_item({"PK": pk, "SK": lot["SK"]}),
                            "UpdateExpression": "ADD reminded :window",
                            "ConditionExpression": "NOT contains(reminded, :day)",
                            "ExpressionAttributeValues": {":window": {"NS": [str(window)]}, ":day": {"N": str(window)}},
                        }
                    },
                )
            )
        self._transact(parts)  # type: ignore[attr-defined]

    def record_tier_review(
        self,
        program_id: str,
        member_id: str,
        version: int,
        new_tier: str | None,
        review_at: datetime | None,
        outbox_id: str,
        outbox: list[dict[str, Any]],
    ) -> None:
        """A reviewed tier and its next review date (none for the entry tier), one transaction."""
        pk = keys.member_pk(program_id, member_id)
        due: dict[str, Any]
        if review_at is None:
            due = {"Delete": {"Key": to_item({"PK": pk, "SK": keys.TIER_REVIEW_SK})}}
        else:
            due = {"Put": {"Item": to_item(self.tier_review_item(program_id, member_id, new_tier, review_at))}}
        profile_item: dict[str, Any] = {
            "Update": {
                "Key": to_item({"PK": pk, "SK": keys.PROFILE}),
                "UpdateExpression": "SET tier = :tier, version = version + :one,"
                " outbox_id = :outbox_id, outbox = :outbox",
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": to_item(
                    {":tier": new_tier, ":one": 1, ":v": version, ":outbox_id": outbox_id, ":outbox": outbox}
                ),
            }
        }
        self._transact([("profile", profile_item), ("due", due)])  # type: ignore[attr-defined]

    @staticmethod
    def tier_review_item(program_id: str, member_id: str, tier: str | None, review_at: datetime) -> dict[str, Any]:
        return {
            "PK": keys.member_pk(program_id, member_id),
            "SK": keys.TIER_REVIEW_SK,
            "type": "due",
            "program_id": program_id,
            "member_id": member_id,
            "tier": tier,
            "review_at": keys.timestamp(review_at),
            **keys.due_index_keys(keys.TIER_REVIEW, program_id, member_id, "tier", review_at),
        }
