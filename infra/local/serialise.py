"""Make moto's DynamoDB backend atomic, as DynamoDB is.

moto interleaves conditional writes and transactions across threads (FACTS.md: a
balance went to -5 under 200 threads). One re-entrant lock around every backend
operation that reads or writes items makes each call atomic, so concurrency tests
exercise our conditions rather than moto's races. Used by the local stack and by
every in-process test.

moto also deep-copies a whole table for every action of a transaction (to roll back),
which makes each transaction cost O(table size): a few hundred members slow a
redemption to a crawl. Under the lock, a transaction can instead remember only the
items it touches and the stream records it adds, and put those back if it fails.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    wrapper.__loyalty_serialised__ = True  # type: ignore[attr-defined]
    return wrapper


def _item_level_rollback(transact: Callable[..., Any]) -> Callable[..., Any]:
    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class _CopyAllButTables:
        """Stands in for `copy` inside moto.dynamodb.models while a transaction runs."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    @functools.wraps(transact)
    def wrapper(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        touched: list[tuple[Any, Any, Any, Any]] = []
        streams: dict[int, tuple[Any, int]] = {}
        for action in transact_items:
            operation = next(iter(action.values()))
            table = self.tables.get(operation.get("TableName"))
            attributes = operation.get("Key") or operation.get("Item") or {}
            if table is None or table.hash_key_attr not in attributes:
                continue  # moto itself rejects it; nothing to restore
            hash_key = DynamoType(attributes[table.hash_key_attr])
            range_attr = table.range_key_attr
            range_key = DynamoType(attributes[range_attr]) if range_attr and range_attr in attributes else None
            touched.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
        models.copy = _CopyAllButTables  # type: ignore[assignment]
        try:
            return transact(self, transact_items)
        except Exception:
            for table, hash_key, range_key, before in reversed(touched):
                holder = table.items[hash_key] if range_key is not None else table.items
                slot = range_key if range_key is not None else hash_key
                if before is None:
                    holder.pop(slot, None)
                else:
                    holder[slot] = before
            for shard, length in streams.values():
                del shard.items[length:]
            raise
        finally:
            models.copy = copy

    return wrapper


def serialise_dynamodb() -> None:
    """Wrap moto's DynamoDB backend operations in one lock (idempotent)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend

    for name in _OPERATIONS:
        method = getattr(DynamoDBBackend, name, None)
        if method is None or getattr(method, "__loyalty_serialised__", False):
            continue
        if name == "transact_write_items" and getattr(models, "copy", None) is copy:
            method = _item_level_rollback(method)
        setattr(DynamoDBBackend, name, _locked(method))
