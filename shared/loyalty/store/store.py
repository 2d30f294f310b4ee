"""The single table: every read and write the product makes, each state change one transaction."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from loyalty.domain.ledger import PROFILE_FIELDS, LedgerEntry, Lot, Member, Spend
from loyalty.domain.program import EarningRule, ProgramConfig, ProgramSettings, Reward, Segment, Tier
from loyalty.domain.refunds import Refunded, Taking
from loyalty.errors import ValidationFailed
from loyalty.store import keys
from loyalty.store.dynamo import (
    dynamodb_client,
    error_code,
    from_item,
    to_attr,
    to_item,
    transient_faults_as_unavailable,
)
from loyalty.store.items import entry_from_item, entry_item, entry_put, lot_from_item, member_from_item, member_item
from loyalty.store.jobs import Due, JobStoreMixin, due_part
from loyalty.store.notifications import NotificationStoreMixin
from loyalty.store.reports import ReportStoreMixin

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


_Part = TypeVar("_Part", Tier, Reward, Segment, EarningRule)  # the parts of a program stored one per item


class Cancelled(Exception):
    """A cancelled transaction: the parts whose condition failed (with their stored items), and the parts
    cancelled for another reason (`TransactionConflict`: another transaction held the item)."""

    def __init__(self, failures: dict[str, dict[str, Any] | None], reasons: dict[str, str] | None = None) -> None:
        self.failures = failures
        self.reasons = reasons or {}  # part -> cancellation code other than ConditionalCheckFailed
        named = [*failures, *(f"{name}:{code}" for name, code in self.reasons.items())]
        super().__init__(", ".join(named) or "transaction cancelled")

    def failed(self, part: str) -> bool:
        """The condition of `part` (or of a part `part:<detail>`, e.g. one budget shard) failed; a
        conflict on it is not a failed condition."""
        return any(name == part or name.startswith(part + ":") for name in self.failures)

    def existing(self, part: str) -> dict[str, Any] | None:
        return self.failures.get(part)

    @property
    def contended(self) -> bool:
        """Only conflicts with other transactions: nothing is wrong with the request, the same write may
        go through when tried again."""
        return not self.failures and bool(self.reasons) and set(self.reasons.values()) == {"TransactionConflict"}


@dataclass(frozen=True)
class Identity:
    kind: str  # "email" | "phone" | "mailbox" (the email's canonical mailbox)
    value: str


@dataclass(frozen=True)
class RewardCounter:
    """One counter shard's change: its share of the caps is the condition."""

    reward_id: str
    shard: int
    quantity: int
    points: int
    unit_cap: int | None
    points_budget: int | None


@dataclass(frozen=True)
class RuleBudgetCounter:
    """Points an earn takes from one shard of an earning rule's budget: its share is the condition."""

    rule_id: str
    shard: int
    points: int
    shard_budget: int


def _at_most(attribute: str, placeholder: str, most: int) -> str:
    """A counter attribute is at most `most` (a missing one counts as 0, which a negative `most` refuses)."""
    if most < 0:
        return f"{attribute} <= {placeholder}"  # false when the attribute is missing: a change larger than the share
    return f"(attribute_not_exists({attribute}) OR {attribute} <= {placeholder})"


def _lot_take(spend: Spend, pending: bool | None) -> tuple[str, list[str], list[str], dict[str, Any]]:
    """Taking `spend.points` from a lot: its SET clause, the attributes it removes, its conditions and
    their values. `pending`: the lot must still be (True) or no longer be (False) pending, since
    activation moves a pending lot's points to the balance; None: either."""
    if spend.points == spend.remaining_before:
        # Emptying the lot takes it out of the open-lot and expiry (or activation) indexes; exact condition.
        sets, removes, conditions = "remaining = :zero", ["OPEN_SK", "GSI1PK", "GSI1SK"], ["remaining = :before"]
        values: dict[str, Any] = {":zero": 0, ":before": spend.remaining_before}
    else:
        # A partial take commutes with other takes: concurrent redemptions need no retry.
        sets, removes, conditions, values = (
            "remaining = remaining - :take",
            [],
            ["remaining >= :take"],
            {":take": spend.points},
        )
    if pending is not None:
        conditions.append("attribute_exists(pending_lot)" if pending else "attribute_not_exists(pending_lot)")
    return sets, removes, conditions, values


@dataclass(frozen=True)
class RewardWindow:
    """A reward's recent-redemption entries on the profile as read (None: never written) and as they become."""

    seen: list[str] | None
    after: list[str]


def _cursor_encode(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def _cursor_decode(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as error:
        raise ValidationFailed("cursor is not valid", field="cursor") from error
    if not isinstance(key, dict):
        raise ValidationFailed("cursor is not valid", field="cursor")
    return key


class LoyaltyStore(JobStoreMixin, NotificationStoreMixin, ReportStoreMixin):
    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = dynamodb_client()
        return self._client

    # ---------------------------------------------------------------- primitives

    def _transact(self, parts: list[tuple[str, dict[str, Any]]]) -> None:
        """One TransactWriteItems; failed conditions come back as `Cancelled` naming the parts."""
        from botocore.exceptions import ClientError

        actions = []
        for _, action in parts:
            ((verb, body),) = action.items()
            actions.append(
                {
                    verb: {
                        "TableName": self.table_name,
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        **body,
                    }
                }
            )
        try:
            with transient_faults_as_unavailable():
                self.client.transact_write_items(TransactItems=actions)  # type: ignore[arg-type]
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            reasons: list[dict[str, Any]] = error.response.get("CancellationReasons", [])  # type: ignore[assignment]
            failures: dict[str, dict[str, Any] | None] = {}
            others: dict[str, str] = {}
            for (name, _), reason in zip(parts, reasons, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed":
                    failures[name] = from_item(reason["Item"]) if reason.get("Item") else None
                elif reason.get("Code") not in (None, "None"):
                    # A conflict with another transaction: nothing written, the caller retries.
                    others[name] = str(reason.get("Code"))
            raise Cancelled(failures, others) from error

    def _query(self, **kwargs: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        with transient_faults_as_unavailable():
            page = self.client.query(TableName=self.table_name, **kwargs)
        return [from_item(item) for item in page.get("Items", [])], page.get("LastEvaluatedKey")

    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            page, start = self._query(**kwargs, **({"ExclusiveStartKey": start} if start else {}))
            items.extend(page)
            if not start:
                return items

    def _get(self, key: dict[str, str], consistent: bool = True) -> dict[str, Any] | None:
        with transient_faults_as_unavailable():
            found = self.client.get_item(TableName=self.table_name, Key=to_item(key), ConsistentRead=consistent)
        return from_item(found["Item"]) if "Item" in found else None

    def _batch_get(self, wanted: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Strongly consistent BatchGetItem, following unprocessed keys."""
        request: dict[str, Any] = {self.table_name: {"Keys": [to_item(k) for k in wanted], "ConsistentRead": True}}
        found: list[dict[str, Any]] = []
        while request:
            with transient_faults_as_unavailable():
                page = self.client.batch_get_item(RequestItems=request)
            found += [from_item(item) for item in page.get("Responses", {}).get(self.table_name, [])]
            request = page.get("UnprocessedKeys") or {}
        return found

    def _put(self, values: dict[str, Any]) -> dict[str, Any] | None:
        with transient_faults_as_unavailable():
            old = self.client.put_item(TableName=self.table_name, Item=to_item(values), ReturnValues="ALL_OLD")
        return from_item(old["Attributes"]) if "Attributes" in old else None

    # ---------------------------------------------------------------- program config

    def load_program(self, program_id: str) -> ProgramConfig | None:
        """Settings, tiers, rewards, earning rules and segments of a program in one Query."""
        items = self._query_all(
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": to_attr(keys.program_pk(program_id))},
            ConsistentRead=True,
        )
        settings = next((item for item in items if item["SK"] == keys.SETTINGS_SK), None)
        if settings is None:
            return None

        def parts(sort_key: Callable[[str], str], model: type[_Part]) -> dict[str, _Part]:
            prefix = sort_key("")
            return {
                i["SK"][len(prefix) :]: model.model_validate(i["data"]) for i in items if i["SK"].startswith(prefix)
            }

        return ProgramConfig(
            program_id=program_id,
            settings=ProgramSettings.model_validate(settings["data"]),
            tiers=parts(keys.tier_sk, Tier),
            rewards=parts(keys.reward_sk, Reward),
            segments=parts(keys.segment_sk, Segment),
            earning_rules=parts(keys.earning_rule_sk, EarningRule),
        )

    def put_config(self, program_id: str, sort_key: str, data: dict[str, Any], now: datetime) -> bool:
        """Store one piece of program config; True when it is new."""
        old = self._put(
            {
                "PK": keys.program_pk(program_id),
                "SK": sort_key,
                "type": "config",
                "data": data,
                "updated_at": keys.timestamp(now),
            }
        )
        return old is None

    def put_program(self, program_id: str, settings: dict[str, Any], now: datetime) -> bool:
        """The program's settings and its entry in the list of programs (for the jobs that serve every
        program: a handful of items, never a scan), in one transaction; True when the program is new."""
        settings_item = to_item(
            {
                "PK": keys.program_pk(program_id),
                "SK": keys.SETTINGS_SK,
                "type": "config",
                "data": settings,
                "updated_at": keys.timestamp(now),
            }
        )
        listed = {"Put": {"Item": to_item({"PK": keys.PROGRAMS, "SK": program_id, "type": "program"})}}
        try:
            # A transaction does not return the old item: create first, replace when it exists.
            self._transact(
                [
                    ("settings", {"Put": {"Item": settings_item, "ConditionExpression": "attribute_not_exists(PK)"}}),
                    ("listed", listed),
                ]
            )
            return True
        except Cancelled as cancelled:
            if not cancelled.failed("settings"):
                raise
        self._transact([("settings", {"Put": {"Item": settings_item}}), ("listed", listed)])
        return False

    def program_ids(self) -> list[str]:
        items = self._query_all(
            KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": to_attr(keys.PROGRAMS)}
        )
        return [item["SK"] for item in items]

    # ---------------------------------------------------------------- members

    def enroll(
        self,
        member: Member,
        identities: list[Identity],
        outbox_id: str,
        outbox: list[dict[str, Any]],
        due: tuple[Due, ...] = (),
    ) -> None:
        """Profile plus one uniqueness marker per identity, all or nothing."""
        parts: list[tuple[str, dict[str, Any]]] = [
            (
                "profile",
                {
                    "Put": {
                        "Item": to_item({**member_item(member), "outbox_id": outbox_id, "outbox": outbox}),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            )
        ]
        parts += [(f"identity_{identity.kind}", self._identity_put(member, identity)) for identity in identities]
        parts += [due_part(member.program_id, member.member_id, change) for change in due]
        self._transact(parts)

    def _identity_put(self, member: Member, identity: Identity) -> dict[str, Any]:
        return {
            "Put": {
                "Item": to_item(
                    {
                        "PK": keys.identity_pk(member.program_id, identity.kind, identity.value),
                        "SK": keys.IDENTITY_SK,
                        "type": "identity",
                        "member_id": member.member_id,
                    }
                ),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _identity_delete(self, member: Member, identity: Identity) -> dict[str, Any]:
        # Members enrolled before mailbox markers existed have none to release.
        condition = "member_id = :m" + (" OR attribute_not_exists(PK)" if identity.kind == "mailbox" else "")
        return {
            "Delete": {
                "Key": to_item(
                    {
                        "PK": keys.identity_pk(member.program_id, identity.kind, identity.value),
                        "SK": keys.IDENTITY_SK,
                    }
                ),
                "ConditionExpression": condition,
                "ExpressionAttributeValues": {":m": to_attr(member.member_id)},
            }
        }

    def get_member(self, program_id: str, member_id: str) -> Member | None:
        item = self._get({"PK": keys.member_pk(program_id, member_id), "SK": keys.PROFILE})
        return member_from_item(item) if item else None

    def get_member_and_entry(
        self, program_id: str, member_id: str, source_kind: str, source_id: str
    ) -> tuple[Member | None, dict[str, Any] | None]:
        """Profile and the ledger entry of a source in one strongly consistent BatchGetItem."""
        member, entry = self.get_member_and_entries(program_id, member_id, [(source_kind, source_id)])
        return member, entry

    def get_member_and_entries(
        self, program_id: str, member_id: str, sources: list[tuple[str, str]]
    ) -> tuple[Any, ...]:
        """(profile, entry of each source in order, None where absent) in one strongly consistent BatchGetItem."""
        pk = keys.member_pk(program_id, member_id)
        sort_keys = [keys.entry_sk(kind, source_id) for kind, source_id in sources]
        found = {
            item["SK"]: item for item in self._batch_get([{"PK": pk, "SK": sk} for sk in [keys.PROFILE, *sort_keys]])
        }
        profile = found.get(keys.PROFILE)
        return ((member_from_item(profile) if profile else None), *(found.get(sk) for sk in sort_keys))

    def get_member_and_open_lots(self, program_id: str, member_id: str) -> tuple[Member | None, list[Lot]]:
        """One strongly consistent Query of the OPEN index: the profile, then open lots by expiry."""
        items = self._query_all(
            IndexName="OPEN",
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": to_attr(keys.member_pk(program_id, member_id))},
            ConsistentRead=True,
        )
        profile = next((item for item in items if item["SK"] == keys.PROFILE), None)
        lots = [lot_from_item(item) for item in items if item["SK"] != keys.PROFILE and item.get("remaining", 0) > 0]
        return (member_from_item(profile) if profile else None), lots

    def update_profile(
        self,
        before: Member,
        after: Member,
        added: list[Identity],
        removed: list[Identity],
        outbox_id: str,
        outbox: list[dict[str, Any]],
        due: tuple[Due, ...] = (),
    ) -> None:
        """Personal data changes (patch or erasure) with the uniqueness markers they move."""
        names = {f"#{name}": name for name in PROFILE_FIELDS}
        values: dict[str, Any] = {f":{name}": getattr(after, name) for name in PROFILE_FIELDS}
        sets = [f"#{name} = :{name}" for name in PROFILE_FIELDS if getattr(after, name) is not None]
        removes = [f"#{name}" for name in PROFILE_FIELDS if getattr(after, name) is None]
        values = {k: v for k, v in values.items() if v is not None}
        sets += [
            "#status = :status",
            "version = version + :one",
            "outbox_id = :outbox_id",
            "outbox = :outbox",
        ]
        names["#status"] = "status"
        values.update(
            {
                ":status": after.status,
                ":one": 1,
                ":outbox_id": outbox_id,
                ":outbox": outbox,
                ":v": before.version,
            }
        )
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        parts: list[tuple[str, dict[str, Any]]] = [
            (
                "profile",
                {
                    "Update": {
                        "Key": to_item({"PK": keys.member_pk(before.program_id, before.member_id), "SK": keys.PROFILE}),
                        "UpdateExpression": expression,
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": to_item(values),
                    }
                },
            )
        ]
        parts += [(f"identity_{i.kind}", self._identity_put(after, i)) for i in added]
        parts += [(f"release_{i.kind}", self._identity_delete(before, i)) for i in removed]
        parts += [due_part(before.program_id, before.member_id, change) for change in due]
        self._transact(parts)

    def member_items(self, program_id: str, member_id: str) -> list[dict[str, Any]]:
        """Everything stored under a member (for the data export)."""
        return self._query_all(
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": to_attr(keys.member_pk(program_id, member_id))},
        )

    # ---------------------------------------------------------------- ledger writes

    def record_credit(
        self,
        before: Member,
        after: Member,
        entry: LedgerEntry,
        outbox: list[dict[str, Any]],
        tier_review_at: datetime | None = None,
        due: tuple[Due, ...] = (),
        budgets: tuple[RuleBudgetCounter, ...] = (),
    ) -> None:
        """Ledger entry with its lot, the profile's balance, tier and rule caps, and the earning
        rules' budget counters: one transaction.

        The entry's own `attribute_not_exists` is the idempotency marker; the profile's
        version makes the tier decision and the rule caps exact when two earns of one member race.
        """
        lot = entry.lot
        assert lot is not None
        pending = after.pending - before.pending
        values = {
            ":balance": after.balance - before.balance,
            ":pending": pending,
            ":points": lot.points,
            ":qualifying": after.qualifying,
            ":spend": after.spend,
            ":orders": after.orders,
            ":velocity": after.velocity,
            ":now": keys.timestamp(after.last_activity_at),
            ":one": 1,
            ":v": before.version,
            ":active": "active",
        }
        expression = (
            "SET balance = balance + :balance, pending = pending + :pending,"
            " lifetime_points = lifetime_points + :points, qualifying = :qualifying,"
            " spend = :spend, orders = :orders, velocity = :velocity,"
            " last_activity_at = :now, version = version + :one"
        )
        if after.tier != before.tier:
            expression += ", tier = :tier"
            values[":tier"] = after.tier
        if after.rule_points != before.rule_points:
            expression += ", rule_points = :rule_points"
            values[":rule_points"] = after.rule_points
        if after.debt != before.debt:
            expression += ", debt = :debt"  # the version condition keeps it exact
            values[":debt"] = after.debt
        parts: list[tuple[str, dict[str, Any]]] = [
            ("entry", entry_put(before.program_id, before.member_id, entry, outbox)),
            (
                "profile",
                {
                    "Update": {
                        "Key": to_item(
                            {
                                "PK": keys.member_pk(before.program_id, before.member_id),
                                "SK": keys.PROFILE,
                            }
                        ),
                        "UpdateExpression": expression,
                        "ConditionExpression": "version = :v AND #status = :active",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": to_item(values),
                    }
                },
            ),
        ]
        if tier_review_at is not None:
            # A tier reached is reviewed when its validity ends (the tier review job reads this item).
            item = self.tier_review_item(before.program_id, before.member_id, after.tier, tier_review_at)
            parts.append(("due", {"Put": {"Item": to_item(item)}}))
        parts += [due_part(before.program_id, before.member_id, change) for change in due]
        parts += [
            (
                f"rule_budget:{budget.rule_id}:{budget.shard}",
                self._sharded_counter_update(
                    keys.rule_budget_key(before.program_id, budget.rule_id, budget.shard),
                    quantity=1,
                    points=budget.points,
                    unit_cap=None,
                    points_budget=budget.shard_budget,
                ),
            )
            for budget in budgets
        ]
        self._transact(parts)

    def flag_member(self, program_id: str, member_id: str, flag: str) -> None:
        """Add a fraud flag to a profile, alone: ADD to a set is idempotent and leaves the version
        alone, so it neither disturbs concurrent earns nor counts as a ledger change."""
        with transient_faults_as_unavailable():
            self.client.update_item(
                TableName=self.table_name,
                Key=to_item({"PK": keys.member_pk(program_id, member_id), "SK": keys.PROFILE}),
                UpdateExpression="ADD flags :flag",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues=to_item({":flag": {flag}}),
            )

    def _spend_update(
        self, program_id: str, member_id: str, spend: Spend, pending: bool | None = None
    ) -> dict[str, Any]:
        """Take `spend.points` from a lot (see `_lot_take` for `pending`)."""
        kind, _, source_id = spend.source.partition("#")
        sets, removes, conditions, values = _lot_take(spend, pending)
        return {
            "Update": {
                "Key": to_item({"PK": keys.member_pk(program_id, member_id), "SK": keys.entry_sk(kind, source_id)}),
                "UpdateExpression": f"SET {sets}" + (" REMOVE " + ", ".join(removes) if removes else ""),
                "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeValues": to_item(values),
            }
        }

    def _refill_update(
        self, program_id: str, member_id: str, spend: Spend, lot: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        kind, _, source_id = spend.source.partition("#")
        expires_at = datetime.fromisoformat(lot["expires_at"]) if lot["expires_at"] != keys.NEVER else None
        index = {"OPEN_SK": keys.open_lot_sk(expires_at, spend.lot_id)}
        if expires_at is not None:
            due = keys.expiry_due(expires_at, now)  # a lot that expired meanwhile expires again at the next sweep
            index.update(keys.expiry_index_keys(program_id, member_id, spend.lot_id, due))
        sets = ", ".join(f"{name} = :{name}" for name in index)
        return {
            "Update": {
                "Key": to_item({"PK": keys.member_pk(program_id, member_id), "SK": keys.entry_sk(kind, source_id)}),
                "UpdateExpression": f"SET remaining = remaining + :give, {sets}",
                # A lot never holds more than it was credited with.
                "ConditionExpression": "remaining <= :room",
                "ExpressionAttributeValues": to_item(
                    {
                        ":give": spend.points,
                        ":room": lot["lot_points"] - spend.points,
                        **{f":{k}": v for k, v in index.items()},
                    }
                ),
            }
        }

    def record_redemption(
        self,
        member: Member,
        entry: LedgerEntry,
        per_member_limit: int | None,
        counters: list[RewardCounter],
        outbox: list[dict[str, Any]],
        due: tuple[Due, ...] = (),
        window: RewardWindow | None = None,
    ) -> None:
        """Redemption entry, each lot spent, the balance and the reward's counters: one transaction."""
        reward_id = entry.details["reward_id"]
        quantity = entry.details["quantity"]
        cost = -entry.points
        condition = "balance >= :cost AND #status = :active"
        values: dict[str, Any] = {
            ":cost": cost,
            ":q": quantity,
            ":zero": 0,
            ":now": keys.timestamp(entry.recorded_at),
            ":active": "active",
        }
        if per_member_limit is not None:
            condition += " AND (attribute_not_exists(reward_counts.#r) OR reward_counts.#r <= :member_max)"
            values[":member_max"] = per_member_limit - quantity
        update = (
            "SET balance = balance - :cost, last_activity_at = :now,"
            " reward_counts.#r = if_not_exists(reward_counts.#r, :zero) + :q"
        )
        names = {"#r": reward_id, "#status": "status"}
        if window is not None:
            # The period limit was judged on the entries read: they must be unchanged when this writes.
            names["#w"] = keys.reward_window_attribute(reward_id)
            condition += " AND " + ("attribute_not_exists(#w)" if window.seen is None else "#w = :seen")
            if window.seen is not None:
                values[":seen"] = window.seen
            update += ", #w = :window"
            values[":window"] = window.after
        code_keys = keys.code_index_keys(member.program_id, entry.details["code"])  # POS looks codes up here
        pk = keys.member_pk(member.program_id, member.member_id)
        parts: list[tuple[str, dict[str, Any]]] = [
            (
                "entry",
                {
                    "Put": {
                        "Item": to_item(
                            {**entry_item(member.program_id, member.member_id, entry, outbox), **code_keys}
                        ),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ),
            (
                "profile",
                {
                    "Update": {
                        "Key": to_item({"PK": pk, "SK": keys.PROFILE}),
                        "UpdateExpression": update,
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": to_item(values),
                    }
                },
            ),
        ]
        parts += [
            (f"lot:{spend.lot_id}", self._spend_update(member.program_id, member.member_id, spend))
            for spend in entry.spends
        ]
        parts += self._counter_parts(member.program_id, counters, sign=1)
        parts += [due_part(member.program_id, member.member_id, change) for change in due]
        self._transact(parts)

    def _counter_parts(
        self, program_id: str, counters: list[RewardCounter], sign: int
    ) -> list[tuple[str, dict[str, Any]]]:
        """One update per counter shard a redemption draws on (several when no single shard has room)."""
        return [
            ("counter" if n == 0 else f"counter:{n}", self._counter_update(program_id, change, sign))
            for n, change in enumerate(counters)
        ]

    def _counter_update(self, program_id: str, counter: RewardCounter, sign: int) -> dict[str, Any]:
        return self._sharded_counter_update(
            keys.reward_counter_key(program_id, counter.reward_id, counter.shard),
            sign * counter.quantity,
            sign * counter.points,
            counter.unit_cap if sign > 0 else None,
            counter.points_budget if sign > 0 else None,
        )

    def _sharded_counter_update(
        self, key: dict[str, str], quantity: int, points: int, unit_cap: int | None, points_budget: int | None
    ) -> dict[str, Any]:
        """Add to one counter shard (`redeemed` units, `points`), on condition that its shares of the caps hold."""
        values: dict[str, Any] = {":q": quantity, ":p": points, ":zero": 0}
        conditions = []
        if unit_cap is not None:
            conditions.append(_at_most("redeemed", ":unit_max", unit_cap - quantity))
            values[":unit_max"] = unit_cap - quantity
        if points_budget is not None:
            conditions.append(_at_most("points", ":points_max", points_budget - points))
            values[":points_max"] = points_budget - points
        update: dict[str, Any] = {
            "Key": to_item(key),
            "UpdateExpression": "SET redeemed = if_not_exists(redeemed, :zero) + :q,"
            " points = if_not_exists(points, :zero) + :p",
            "ExpressionAttributeValues": to_item(values),
        }
        if conditions:
            update["ConditionExpression"] = " AND ".join(conditions)
        return {"Update": update}

    def reward_counters(self, program_id: str, reward_id: str, shards: int) -> list[dict[str, int]]:
        """Each counter shard's units and points, in shard order (zeros for a shard never written)."""
        return self._sharded_counters([keys.reward_counter_key(program_id, reward_id, n) for n in range(shards)])

    def rule_budget_spent(self, program_id: str, rule_id: str, shards: int) -> list[int]:
        """The points each shard of an earning rule's budget has given, in shard order."""
        counts = self._sharded_counters([keys.rule_budget_key(program_id, rule_id, n) for n in range(shards)])
        return [count["points"] for count in counts]

    def _sharded_counters(self, wanted: list[dict[str, str]]) -> list[dict[str, int]]:
        found = {item["PK"]: item for item in self._batch_get(wanted)}
        return [
            {
                "redeemed": found.get(key["PK"], {}).get("redeemed", 0),
                "points": found.get(key["PK"], {}).get("points", 0),
            }
            for key in wanted
        ]

    def record_cancellation(
        self,
        member: Member,
        redemption: LedgerEntry,
        cancel: LedgerEntry,
        lots: dict[str, dict[str, Any]],
        counters: list[RewardCounter],
        outbox: list[dict[str, Any]],
        window: RewardWindow | None = None,
    ) -> None:
        """Give a redemption's points back to the lots they came from (what paid the member's
        refund debt goes to no lot: `cancel.spends` are the refills): one transaction."""
        pk = keys.member_pk(member.program_id, member.member_id)
        reward_id = redemption.details["reward_id"]
        paid = cancel.snapshot.get("debt_paid", 0)
        # The version moves: an earn or refund planned on the profile before this cancel (its debt,
        # its balance) must plan again rather than overwrite what the cancel changed.
        update = "SET balance = balance + :give, reward_counts.#r = reward_counts.#r - :q, version = version + :one"
        # The debt read is the debt paid from: a refund meanwhile makes the cancel look again.
        conditions = ["(attribute_not_exists(debt) OR debt = :debt)"]
        values: dict[str, Any] = {
            ":give": cancel.points - paid,
            ":q": redemption.details["quantity"],
            ":one": 1,
            ":debt": member.debt,
        }
        names = {"#r": reward_id}
        if paid:
            update += ", debt = debt - :paid"
            values[":paid"] = paid
        if window is not None and window.seen is not None:
            # The redemption leaves its period window: the member may redeem again.
            update += ", #w = :window"
            names["#w"] = keys.reward_window_attribute(reward_id)
            values.update({":window": window.after, ":seen": window.seen})
            conditions.append("#w = :seen")
        parts: list[tuple[str, dict[str, Any]]] = [
            ("entry", entry_put(member.program_id, member.member_id, cancel, outbox)),
            (
                "redemption",
                {
                    "Update": {
                        "Key": to_item({"PK": pk, "SK": keys.entry_sk(redemption.source_kind, redemption.source_id)}),
                        "UpdateExpression": "SET #status = :cancelled, cancelled_at = :now",
                        "ConditionExpression": "#status = :issued",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": to_item(
                            {
                                ":cancelled": "cancelled",
                                ":issued": "issued",
                                ":now": keys.timestamp(cancel.recorded_at),
                            }
                        ),
                    }
                },
            ),
            (
                "profile",
                {
                    "Update": {
                        "Key": to_item({"PK": pk, "SK": keys.PROFILE}),
                        "UpdateExpression": update,
                        "ConditionExpression": " AND ".join(conditions),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": to_item(values),
                    }
                },
            ),
        ]
        parts += [
            (
                f"lot:{spend.lot_id}",
                self._refill_update(member.program_id, member.member_id, spend, lots[spend.lot_id], cancel.recorded_at),
            )
            for spend in cancel.spends
        ]
        parts += self._counter_parts(member.program_id, counters, sign=-1)
        self._transact(parts)

    def record_refund(
        self,
        member: Member,
        counted: Member,
        order: LedgerEntry,
        before: Refunded,
        after: Refunded,
        taking: Taking,
        entry: LedgerEntry,
        outbox: list[dict[str, Any]],
    ) -> None:
        """A refund's claw-back: its entry, the order's refunded counters (with its own lot, the
        same item), each other lot taken from, and the profile's balance, pending and debt, and
        the aggregates as `counted` has them (the version condition keeps them exact)."""
        pk = keys.member_pk(member.program_id, member.member_id)
        sets = [
            "refunded_points = :points",
            "refunded_amount = :amount",
            "refunded_lines = :lines",
            "refunds = :count",
        ]
        removes: list[str] = []
        # Compare-and-set on the number of refunds so far: concurrent refunds of one order serialise here,
        # and the points condition keeps the claw-back within what the order earned.
        conditions = [
            "refunds = :counted" if before.refunds else "attribute_not_exists(refunds)",
            "points >= :points",
        ]
        values: dict[str, Any] = {
            ":points": after.points,
            ":amount": str(after.amount),
            ":lines": after.lines,
            ":count": after.refunds,
        }
        if before.refunds:
            values[":counted"] = before.refunds
        if taking.own is not None:  # the order's own lot is the order's item: one update for both
            take_sets, take_removes, take_conditions, take_values = _lot_take(taking.own, taking.own_pending)
            sets.append(take_sets)
            removes += take_removes
            conditions += take_conditions
            values.update(take_values)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        parts: list[tuple[str, dict[str, Any]]] = [
            ("entry", entry_put(member.program_id, member.member_id, entry, outbox)),
            (
                "order",
                {
                    "Update": {
                        "Key": to_item({"PK": pk, "SK": keys.entry_sk(order.source_kind, order.source_id)}),
                        "UpdateExpression": expression,
                        "ConditionExpression": " AND ".join(conditions),
                        "ExpressionAttributeValues": to_item(values),
                    }
                },
            ),
            (
                "profile",
                {
                    "Update": {
                        "Key": to_item({"PK": pk, "SK": keys.PROFILE}),
                        "UpdateExpression": "SET balance = balance - :balance, pending = pending - :pending,"
                        " debt = if_not_exists(debt, :zero) + :debt, version = version + :one,"
                        " qualifying = :qualifying, spend = :spend, orders = :orders, lifetime_points = :lifetime",
                        "ConditionExpression": "version = :v AND balance >= :balance AND pending >= :pending",
                        "ExpressionAttributeValues": to_item(
                            {
                                ":balance": taking.from_balance,
                                ":pending": taking.from_pending,
                                ":debt": taking.debt,
                                ":zero": 0,
                                ":one": 1,
                                ":v": member.version,
                                ":qualifying": counted.qualifying,
                                ":spend": counted.spend,
                                ":orders": counted.orders,
                                ":lifetime": counted.lifetime_points,
                            }
                        ),
                    }
                },
            ),
        ]
        parts += [
            (f"lot:{spend.lot_id}", self._spend_update(member.program_id, member.member_id, spend))
            for spend in taking.others
        ]
        parts += [
            (f"lot:{spend.lot_id}", self._spend_update(member.program_id, member.member_id, spend, pending=True))
            for spend in taking.others_pending
        ]
        self._transact(parts)

    def get_entry(self, program_id: str, member_id: str, source_kind: str, source_id: str) -> dict[str, Any] | None:
        return self._get({"PK": keys.member_pk(program_id, member_id), "SK": keys.entry_sk(source_kind, source_id)})

    def get_lots(self, program_id: str, member_id: str, spends: list[Spend]) -> dict[str, dict[str, Any]]:
        """The lot items a list of spends touched, by lot id."""
        pk = keys.member_pk(program_id, member_id)
        sort_keys = {keys.entry_sk(*spend.source.split("#", 1)) for spend in spends}
        found = self._batch_get([{"PK": pk, "SK": sk} for sk in sort_keys])
        return {item["transaction_id"]: item for item in found}

    # ---------------------------------------------------------------- ledger reads

    def list_entries(
        self, program_id: str, member_id: str, limit: int, cursor: str | None
    ) -> tuple[list[LedgerEntry], str | None]:
        start = _cursor_decode(cursor)
        items, last = self._query(
            IndexName="LEDGER",
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": to_attr(keys.member_pk(program_id, member_id))},
            ScanIndexForward=False,
            Limit=limit,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        return [entry_from_item(item) for item in items], _cursor_encode(last)

    def list_open_lots(
        self, program_id: str, member_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Lot], str | None]:
        start = _cursor_decode(cursor)
        items, last = self._query(
            IndexName="OPEN",
            KeyConditionExpression="PK = :pk AND begins_with(OPEN_SK, :lot)",
            ExpressionAttributeValues={
                ":pk": to_attr(keys.member_pk(program_id, member_id)),
                ":lot": to_attr("LOT#"),
            },
            Limit=limit,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        return [lot_from_item(item) for item in items if item.get("remaining", 0) > 0], _cursor_encode(last)

    def find_redemption_by_code(self, program_id: str, code: str) -> dict[str, Any] | None:
        index = keys.code_index_keys(program_id, code)
        items, _ = self._query(
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk",
            ExpressionAttributeValues={":pk": to_attr(index["GSI1PK"])},
            Limit=1,
        )
        return items[0] if items else None

    def consume_redemption(
        self,
        program_id: str,
        member_id: str,
        source_kind: str,
        source_id: str,
        order_id: str | None,
        exclusivity_group: str | None,
        now: datetime,
    ) -> None:
        """Mark a code used, once; with an order and a group, claim the order's marker for that group too.

        One transaction: a second code of the group on the same order fails the marker's condition
        and leaves its own code unused.
        """
        parts: list[tuple[str, dict[str, Any]]] = [
            (
                "redemption",
                {
                    "Update": {
                        "Key": to_item(
                            {"PK": keys.member_pk(program_id, member_id), "SK": keys.entry_sk(source_kind, source_id)}
                        ),
                        "UpdateExpression": "SET #status = :consumed, consumed_at = :now, consumed_order_id = :order",
                        "ConditionExpression": "#status = :issued",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": to_item(
                            {
                                ":consumed": "consumed",
                                ":issued": "issued",
                                ":now": keys.timestamp(now),
                                ":order": order_id or "",
                            }
                        ),
                    }
                },
            )
        ]
        if order_id and exclusivity_group:
            marker = {
                **keys.exclusivity_key(program_id, order_id, exclusivity_group),
                "type": "exclusivity",
                "redemption_id": source_id,
                "member_id": member_id,
                "consumed_at": keys.timestamp(now),
            }
            parts.append(
                (
                    "exclusivity",
                    {"Put": {"Item": to_item(marker), "ConditionExpression": "attribute_not_exists(PK)"}},
                )
            )
        self._transact(parts)
