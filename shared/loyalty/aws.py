"""AWS clients, made on first use and shared by the process (never at import).

boto3 clients are thread-safe once made, but making them is not: one lock guards creation.
Every function takes an injected client in its tests and falls back to these in Lambda.
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()

# DynamoDB: the SDK's standard retries, and short timeouts so a stuck call becomes a 503 quickly.
_CONFIG: dict[str, dict[str, Any]] = {
    "dynamodb": {"retries": {"mode": "standard", "max_attempts": 3}, "connect_timeout": 2, "read_timeout": 5},
}


def aws_client(service: str) -> Any:
    client = _clients.get(service)
    if client is None:
        with _lock:
            client = _clients.get(service)
            if client is None:
                import boto3
                from botocore.config import Config

                client = boto3.client(service, config=Config(**_CONFIG.get(service, {})))  # type: ignore[call-overload]
                _clients[service] = client
    return client
