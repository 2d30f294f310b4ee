"""Make moto's DynamoDB backend atomic, as DynamoDB is.

moto interleaves conditional writes and transactions across threads (FACTS.md: a
balance went to -5 under 200 threads). One re-entrant lock around every backend
operation that reads or writes items makes each call atomic, so concurrency tests
exercise our conditions rather than moto's races. Used by the local stack and by
every in-process test.
"""

from __future__ import annotations

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


def serialise_dynamodb() -> None:
    """Wrap moto's DynamoDB backend operations in one lock (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _OPERATIONS:
        method = getattr(DynamoDBBackend, name, None)
        if method is not None and not getattr(method, "__loyalty_serialised__", False):
            setattr(DynamoDBBackend, name, _locked(method))
