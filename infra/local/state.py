"""Files the local stack keeps: the optional state file (table items) and .local/stack.json.

moto keeps everything in memory. Saving the table's items on a clean stop and putting them
back on start is cheap and is what matters (the ledger); queue messages and the events seen
so far are not kept.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

STATE_VERSION = 1
STACK_FILE = "stack.json"


def _encode(value: Any) -> Any:
    # DynamoDB JSON from boto3 carries bytes for B and BS; JSON needs text.
    if isinstance(value, bytes | bytearray):
        return {"__b64__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def save_table(dynamodb: Any, table_name: str, path: Path) -> int:
    """Write every item of the table to `path`; returns the item count."""
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        items += page.get("Items", [])
    payload = {"version": STATE_VERSION, "table": table_name, "items": _encode(items)}
    _write_atomically(path, json.dumps(payload))
    return len(items)


def restore_table(dynamodb: Any, table_name: str, path: Path) -> int:
    """Put back the items saved in `path` (if it exists); returns the item count."""
    if not path.exists():
        return 0
    payload = json.loads(path.read_text())
    if payload.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: unknown state version {payload.get('version')!r}")
    items = _decode(payload["items"])
    for start in range(0, len(items), 25):
        requests: dict[str, Any] = {table_name: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while requests:
            requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
    return len(items)


def write_stack_file(local_dir: Path, info: dict[str, Any]) -> Path:
    """Where a running stack is, for `python -m infra.local.invoke` and scripts."""
    path = local_dir / STACK_FILE
    _write_atomically(path, json.dumps(info, indent=2, sort_keys=True))
    return path


def read_stack_file(local_dir: Path) -> dict[str, Any]:
    path = local_dir / STACK_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is the local stack running (python -m infra.local)?")
    info: dict[str, Any] = json.loads(path.read_text())
    return info


def remove_stack_file(local_dir: Path, pid: int) -> None:
    """Remove stack.json if it is still ours (another stack may have started since)."""
    path = local_dir / STACK_FILE
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (FileNotFoundError, ValueError):
        pass
