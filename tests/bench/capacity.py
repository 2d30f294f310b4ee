"""Write units of one TransactWriteItems, estimated from the items as they were before and after it.

Method (DynamoDB's published rules, applied to the sizes moto stores):
- An item's size is the UTF-8 length of its attribute names and values; a number takes about one
  byte per two significant digits plus one; a map or list 3 bytes plus 1 per element.
- A transactional write costs 2 WCU per KB (rounded up per item) of the larger of the item's
  size before and after the write.
- Each secondary index (GSI1, and the local indexes LEDGER and OPEN; all project ALL) costs
  1 WCU per KB of the index entry, taken as the item's size, per entry written: one when an item
  enters, leaves or changes inside the index, two when its index key changes (delete + put).
"""

from __future__ import annotations

import math
from typing import Any

from infra.definitions import TABLE

KB = 1024
Item = dict[str, dict[str, Any]]  # an item in DynamoDB's attribute-value form
Key = tuple[str, str]

# The attributes that put an item in each index (a local index shares the table's partition key).
INDEX_KEYS: dict[str, tuple[str, ...]] = {
    **{index.name: (index.partition_key or TABLE.partition_key, index.sort_key) for index in TABLE.global_indexes},
    **{index.name: (index.sort_key,) for index in TABLE.local_indexes},
}


def _number_size(text: str) -> int:
    digits = text.lstrip("-").split("e")[0].split("E")[0].replace(".", "").strip("0")
    return (max(len(digits), 1) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return _number_size(data)
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(_number_size(n) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(element) for name, element in data.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Item | None) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def units(size: int) -> int:
    return max(1, math.ceil(size / KB))


def item_key(item: Item) -> Key:
    return item[TABLE.partition_key]["S"], item[TABLE.sort_key]["S"]


def action_key(action: dict[str, Any]) -> tuple[str, Key]:
    ((verb, body),) = action.items()
    return verb, item_key(body.get("Item") or body["Key"])


def _index_entries(name: str, before: Item | None, after: Item | None) -> list[int]:
    """Sizes of the index entries one item write puts or deletes in index `name`."""
    attributes = INDEX_KEYS[name]

    def key(item: Item | None) -> tuple[Any, ...] | None:
        if item is None or not all(a in item for a in attributes):
            return None
        return tuple(str(item[a]) for a in attributes)

    old, new = key(before), key(after)
    if old is None and new is None:
        return []
    if old is None:
        return [item_size(after)]
    if new is None:
        return [item_size(before)]
    if old != new:
        return [item_size(before), item_size(after)]
    return [max(item_size(before), item_size(after))] if before != after else []


def estimate(transact_items: list[dict[str, Any]], before: dict[Key, Item], after: dict[Key, Item]) -> dict[str, Any]:
    """Table and index write units of one transaction, item by item."""
    rows: list[dict[str, Any]] = []
    for action in transact_items:
        verb, key = action_key(action)
        old, new = before.get(key), after.get(key)
        size = max(item_size(old), item_size(new))
        index = {name: sum(units(s) for s in _index_entries(name, old, new)) for name in INDEX_KEYS}
        rows.append(
            {
                "action": verb,
                "sk": key[1],
                "bytes": size,
                "table_wcu": 2 * units(size),
                "index_wcu": {name: n for name, n in index.items() if n},
            }
        )
    table = sum(row["table_wcu"] for row in rows)
    indexes = sum(sum(row["index_wcu"].values()) for row in rows)
    return {"items": rows, "table_wcu": table, "index_wcu": indexes, "total_wcu": table + indexes}
