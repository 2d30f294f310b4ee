"""One cold start in a fresh interpreter: import a handler, serve one event, print when each step ended.

Run by tests.bench.cold as `python -P child.py <module|baseline> <event.json>`. Only the standard
library loads before the measured import. The baseline (boto3, a DynamoDB client, one GetItem)
runs through this same script, so both sides of the ratio pay the same interpreter and script costs.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # CLOCK_MONOTONIC: the parent can compare it with its own clock

import json  # noqa: E402
import sys  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any  # noqa: E402


def _context(module: str) -> SimpleNamespace:
    """The attributes of Lambda's context object the handlers and Powertools read."""
    name = module.split(".")[1] if module.startswith("functions.") else module
    return SimpleNamespace(
        function_name=name,
        function_version="$LATEST",
        memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        aws_request_id="bench-cold-start",
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name="bench",
        get_remaining_time_in_millis=lambda: 10_000,
    )


def _serve(module: str, event: dict[str, Any]) -> tuple[float, Any]:
    # __import__, not importlib.import_module: -X importtime then nests the handler's imports under it.
    handler = __import__(module, fromlist=["lambda_handler"]).lambda_handler
    imported = time.perf_counter()
    return imported, handler(event, _context(module))


def _baseline(request: dict[str, Any]) -> tuple[float, Any]:
    import boto3

    client = boto3.client("dynamodb")
    imported = time.perf_counter()
    answer = client.get_item(**request)
    return imported, {"statusCode": answer["ResponseMetadata"]["HTTPStatusCode"], "found": "Item" in answer}


def main() -> None:
    target, event_path = sys.argv[1], sys.argv[2]
    with open(event_path, encoding="utf-8") as file:
        event = json.load(file)
    imported, answer = _baseline(event) if target == "baseline" else _serve(target, event)
    served = time.perf_counter()
    print(json.dumps({"started": STARTED, "imported": imported, "served": served, "answer": answer}, default=str))


if __name__ == "__main__":
    main()
