"""Reads and writes of the report aggregates (mixed into LoyaltyStore)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from loyalty.store import keys
from loyalty.store.dynamo import to_attr, to_item

TOTALS = "TOTALS"  # the scope of the all-time item; any other scope is a day (YYYY-MM-DD)
_KEY_ATTRIBUTES = ("PK", "SK", "type", "program_id")


def _counter_update(program_id: str, shard: int, scope: str, counter: Counter[str]) -> dict[str, Any]:
    """ADD every counter (ADD creates a missing attribute at 0): commutative, so concurrent batches never
    overwrite each other. Counters are top-level attributes because ADD cannot create a nested map."""
    sort_key = keys.REPORT_TOTALS_SK if scope == TOTALS else keys.report_day_sk(scope)
    names = {"#type": "type", "#program": "program_id"}
    values: dict[str, Any] = {":type": "report_totals" if scope == TOTALS else "report_day", ":program": program_id}
    adds = []
    for n, (name, amount) in enumerate(sorted(counter.items())):
        names[f"#c{n}"] = name
        values[f":c{n}"] = amount
        adds.append(f"#c{n} :c{n}")
    sets = "SET #type = :type, #program = :program"
    if scope != TOTALS:
        names["#day"], values[":day"] = "day", scope
        sets += ", #day = :day"
    return {
        "Update": {
            "Key": to_item({"PK": keys.report_pk(program_id, shard), "SK": sort_key}),
            "UpdateExpression": f"{sets} ADD {', '.join(adds)}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
        }
    }


def _counters(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name not in _KEY_ATTRIBUTES}


def _added(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The report shards' items of one scope as one: counters added, other attributes (`day`) kept."""
    total: dict[str, Any] = {}
    for item in items:
        for name, value in _counters(item).items():
            total[name] = total.get(name, 0) + value if isinstance(value, int) else value
    return total


class ReportStoreMixin:
    """Mixed into LoyaltyStore: it supplies `_query`, `_query_all`, `_transact`, `_get` and `_put`."""

    def apply_report_changes(
        self, markers: list[tuple[str, int]], changes: dict[tuple[str, str], Counter[str]]
    ) -> None:
        """One transaction: a marker per stream record (condition: not there yet) and the counters.

        Parts are named `seen<n>` (n: position in `markers`) and `count<n>`; a `Cancelled` naming
        `seen<n>` means that record was counted before. The counters go to one report shard.
        """
        shard = keys.report_shard(markers[0][0]) if markers else 0
        parts: list[tuple[str, dict[str, Any]]] = [
            (
                f"seen{n}",
                {
                    "Put": {
                        "Item": to_item({**keys.report_seen_key(event_id), "type": "report_seen", "ttl": expires}),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            )
            for n, (event_id, expires) in enumerate(markers)
        ]
        parts += [
            (f"count{n}", _counter_update(program_id, shard, scope, counter))
            for n, ((program_id, scope), counter) in enumerate(sorted(changes.items()))
        ]
        self._transact(parts)  # type: ignore[attr-defined]

    def report_seen(self, event_ids: list[str]) -> set[str]:
        """Which of these stream records were counted already (their markers exist)."""
        found = self._batch_get([keys.report_seen_key(event_id) for event_id in event_ids])  # type: ignore[attr-defined]
        prefix = keys.report_seen_key("")["PK"]
        return {item["PK"][len(prefix) :] for item in found}

    def report_days(self, program_id: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
        """The day items of a period, the shards added up (days without activity have none): one Query
        per report shard, eventually consistent."""
        by_day: dict[str, list[dict[str, Any]]] = {}
        for shard in range(keys.REPORT_SHARDS):
            items = self._query_all(  # type: ignore[attr-defined]
                KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :last",
                ExpressionAttributeValues={
                    ":pk": to_attr(keys.report_pk(program_id, shard)),
                    ":first": to_attr(keys.report_day_sk(first_day)),
                    ":last": to_attr(keys.report_day_sk(last_day)),
                },
            )
            for item in items:
                by_day.setdefault(item["SK"], []).append(item)
        return [_added(items) for _, items in sorted(by_day.items())]

    def report_totals(self, program_id: str) -> dict[str, Any]:
        """All-time counters and members by tier: the shards' totals in one BatchGetItem, added up."""
        wanted = [
            {"PK": keys.report_pk(program_id, shard), "SK": keys.REPORT_TOTALS_SK}
            for shard in range(keys.REPORT_SHARDS)
        ]
        return _added(self._batch_get(wanted))  # type: ignore[attr-defined]
