"""Test helpers: call the real handlers with real API Gateway / SQS events, and check the ledger."""

from __future__ import annotations

import importlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from infra.definitions import ROUTES, function
from infra.local.gateway import build_proxy_event
from infra.local.invocation import LambdaContext
from loyalty.store import keys
from loyalty.store.store import LoyaltyStore

IAM_IDENTITY = {"userArn": "arn:aws:iam::123456789012:user/tests", "caller": "tests", "accessKey": "TEST"}


def handler(name: str) -> Any:
    module, _, attribute = function(name).handler.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def context(name: str) -> LambdaContext:
    definition = function(name)
    return LambdaContext(
        function_name=name,
        memory_limit_in_mb=definition.memory_mb,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        timeout_s=definition.timeout_s,
    )


def _match(method: str, path: str) -> tuple[str, str, dict[str, str]]:
    for route in ROUTES:
        pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.path) + "$"
        found = re.match(pattern, path)
        if found and route.method == method:
            return route.function, route.path, found.groupdict()
    raise LookupError(f"no route for {method} {path}")


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error_code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


class Api:
    """Calls the handler that owns a route, through a real API Gateway proxy event."""

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        member: tuple[str, str] | None = None,
        raw_body: bytes | None = None,
        query: dict[str, str] | None = None,
    ) -> Answer:
        name, resource, params = _match(method, path)
        payload = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
        authorizer = None
        identity = IAM_IDENTITY
        if member is not None:
            program_id, member_id = member
            authorizer = {"claims": {"sub": member_id, "custom:program_id": program_id, "custom:member_id": member_id}}
            identity = {}
        event = build_proxy_event(
            resource=resource,
            path=path,
            method=method,
            headers=[("Content-Type", "application/json"), *(headers or {}).items()],
            query=list((query or {}).items()),
            path_parameters=params,
            body=payload,
            identity=identity,
            authorizer=authorizer,
        )
        response = handler(name)(event, context(name))
        text = response.get("body") or ""
        multi = response.get("multiValueHeaders") or {}
        headers = {**{name: values[-1] for name, values in multi.items() if values}, **(response.get("headers") or {})}
        # JSON bodies are parsed; others (text/csv) are given as text.
        parsed = json.loads(text) if text and not headers.get("Content-Type", "").startswith("text/") else text or None
        return Answer(response["statusCode"], parsed, headers)

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.call("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.call("PUT", path, body, **kwargs)


def sqs_event(bodies: list[Any], queue: str = "IngestQueue") -> dict[str, Any]:
    """An SQS batch as Lambda's event source mapping delivers it."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": str(uuid.uuid4()),
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(int(datetime.now(UTC).timestamp() * 1000)),
                    "SenderId": "TEST",
                    "ApproximateFirstReceiveTimestamp": str(int(datetime.now(UTC).timestamp() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }


def ledger_invariant(store: LoyaltyStore, program_id: str, member_id: str) -> dict[str, int]:
    """Sum of the ledger == balance + pending - debt, and balance + pending == sum of lots' remaining.

    A refund's entry counts everything it clawed back, debt included; the points a credit paid the
    debt with never reach a lot.
    """
    items = store.member_items(program_id, member_id)
    profile = next(item for item in items if item["SK"] == keys.PROFILE)
    entries = [item for item in items if item.get("type") == "entry"]
    ledger = sum(item["points"] for item in entries)
    lots = sum(item.get("remaining", 0) for item in entries if "lot_points" in item)
    held = profile["balance"] + profile["pending"]
    debt = profile.get("debt", 0)
    assert profile["balance"] >= 0 and profile["pending"] >= 0 and debt >= 0, profile
    assert all(item.get("remaining", 0) >= 0 for item in entries)
    assert all(0 <= item.get("refunded_points", 0) <= item["points"] for item in entries if item["kind"] == "earn")
    assert ledger == held - debt, {"ledger": ledger, "balance+pending": held, "debt": debt}
    assert held == lots, {"balance+pending": held, "lots": lots}
    return {"ledger": ledger, "balance": profile["balance"], "lots": lots, "debt": debt}


T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout_s: float = 20.0) -> T:
    """Poll `check` until it gives a value (anything truthy): the local stack's pollers and the
    stream work in the background."""
    deadline = time.monotonic() + timeout_s
    while True:
        if result := check():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s")
        time.sleep(0.1)
