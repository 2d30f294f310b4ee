"""Write the sample events in events/ from infra/definitions.py, with the local stack's own builders.

    python events/generate.py          # (re)write the files
    python events/generate.py --check  # exit 1 if a file is missing, stale or different

Every route of ROUTES needs an entry in API_SAMPLES, every consumed queue a sample: adding one
without a sample fails here.
The events are what the local stack (and AWS) hand to the functions, so tests and
`make invoke` can use them as they are.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
REGION = "us-east-1"
HOST = "127.0.0.1:3000"
SAMPLE_PREFIXES = ("api_", "sqs_", "job_", "stream_")

ORDER = {
    "order_id": "o-1001",
    "amount": 42.50,
    "currency": "EUR",
    "occurred_at": "2026-11-20T14:30:00+01:00",
    "channel": "web",
    "items": [
        {"line_id": "1", "sku": "BEANS-1KG", "category": "coffee", "quantity": 1, "unit_price": 25.00},
        {"line_id": "2", "sku": "CROISSANT", "category": "bakery", "quantity": 5, "unit_price": 3.50},
    ],
    "metadata": {"store": "web-de"},
}
PROGRAM = {
    "name": "Demo Rewards",
    "currency": "EUR",
    "earn_rate": {"points": 1, "per_amount": 1},
    "rounding": "floor",
    "expiry": {"policy": "rolling", "days": 365},
    "pending_days": 0,
    "tier_window_days": 365,
    "reminders": {"expiring_days_before": [30, 7], "welcome_days_after": [5], "birthday": True},
    "activity_points": {"newsletter": 50, "review": 25},
}
P = "/v1/programs/{program_id}"
M = P + "/members/{member_id}"
MEMBER = {"program_id": "demo", "member_id": "alice"}

# (method, path template) -> file stem, path parameters, body, query, extra headers
API_SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/v1/openapi.json"): {"name": "api_docs_get_openapi"},
    ("PUT", P): {"name": "api_admin_put_program", "params": {"program_id": "demo"}, "body": PROGRAM},
    ("GET", P): {"name": "api_admin_get_program", "params": {"program_id": "demo"}},
    ("PUT", P + "/tiers/{tier_id}"): {
        "name": "api_admin_put_tier",
        "params": {"program_id": "demo", "tier_id": "gold"},
        "body": {"name": "Gold", "threshold": 2000, "earn_multiplier": 1.5, "expiry_days": 540},
    },
    ("PUT", P + "/rewards/{reward_id}"): {
        "name": "api_admin_put_reward",
        "params": {"program_id": "demo", "reward_id": "coffee"},
        "body": {
            "name": "Free coffee",
            "type": "product",
            "cost": 150,
            "active": True,
            "stock": 1000,
            "limits": {"per_member": 5},
        },
    },
    ("PUT", P + "/segments/{segment_id}"): {
        "name": "api_admin_put_segment",
        "params": {"program_id": "demo", "segment_id": "big_spenders"},
        "body": {"name": "Big spenders", "condition": "member.spend_365d >= 500.0"},
    },
    ("GET", P + "/segments/{segment_id}"): {
        "name": "api_admin_get_segment",
        "params": {"program_id": "demo", "segment_id": "big_spenders"},
    },
    ("PUT", P + "/earning-rules/{rule_id}"): {
        "name": "api_admin_put_earning_rule",
        "params": {"program_id": "demo", "rule_id": "german-monday"},
        "body": {
            "name": "Double points for German customers on Mondays",
            "trigger": "order",
            "condition": 'member.country == "DE" && now.getDayOfWeek() == 1',
            "effect": {"type": "multiplier", "factor": 2},
            "items": {"exclude_categories": ["gift-cards"]},
            "budget": 100000,
            "active": True,
        },
    },
    ("GET", P + "/earning-rules/{rule_id}"): {
        "name": "api_admin_get_earning_rule",
        "params": {"program_id": "demo", "rule_id": "german-monday"},
    },
    ("POST", P + "/members"): {
        "name": "api_enrollment_post_member",
        "params": {"program_id": "demo"},
        "body": {
            "member_id": "alice",
            "email": "alice@example.com",
            "phone": "+49 30 1234567",
            "first_name": "Alice",
            "last_name": "Example",
            "birthday": "1990-04-01",
            "country": "DE",
            "attributes": {"favourite_store": "berlin-mitte"},
            "consents": {"marketing_email": True},
        },
    },
    ("GET", M): {"name": "api_enrollment_get_member", "params": MEMBER},
    ("PATCH", M): {
        "name": "api_enrollment_patch_member",
        "params": MEMBER,
        "body": {"last_name": "Beispiel", "consents": {"marketing_email": False}},
    },
    ("DELETE", M): {"name": "api_enrollment_delete_member", "params": MEMBER},
    ("GET", M + "/export"): {"name": "api_enrollment_get_export", "params": MEMBER},
    ("GET", "/v1/me"): {"name": "api_enrollment_get_me"},
    ("POST", M + "/orders"): {"name": "api_earn_post_order", "params": MEMBER, "body": ORDER},
    ("POST", M + "/orders/{order_id}/refunds"): {
        "name": "api_earn_post_refund",
        "params": {**MEMBER, "order_id": "o-1001"},
        "body": {"refund_id": "rf-1001", "lines": [{"line_id": "2", "quantity": 2}]},
    },
    ("POST", M + "/activities"): {
        "name": "api_earn_post_activity",
        "params": MEMBER,
        "body": {"activity_id": "a-1", "activity_type": "newsletter", "occurred_at": "2026-11-20T09:00:00+00:00"},
    },
    ("GET", M + "/transactions"): {"name": "api_redeem_get_transactions", "params": MEMBER, "query": [("limit", "20")]},
    ("GET", M + "/lots"): {"name": "api_redeem_get_lots", "params": MEMBER},
    ("GET", M + "/rewards"): {"name": "api_redeem_get_member_rewards", "params": MEMBER},
    ("POST", M + "/redemptions"): {
        "name": "api_redeem_post_redemption",
        "params": MEMBER,
        "body": {"reward_id": "coffee", "quantity": 1},
        "headers": [("Idempotency-Key", "r-1001")],
    },
    ("POST", M + "/redemptions/{redemption_id}/cancel"): {
        "name": "api_redeem_post_cancel",
        "params": {**MEMBER, "redemption_id": "01JDEMOREDEMPTION0000000000"},
        "body": {},
    },
    ("POST", P + "/codes/{code}/consume"): {
        "name": "api_redeem_post_code_consume",
        "params": {"program_id": "demo", "code": "DEMO-7K2Q-9XPL"},
        "body": {},
    },
    ("GET", "/v1/me/transactions"): {"name": "api_redeem_get_me_transactions", "query": [("limit", "20")]},
    ("GET", "/v1/me/rewards"): {"name": "api_redeem_get_me_rewards"},
    ("POST", "/v1/me/redemptions"): {
        "name": "api_redeem_post_me_redemption",
        "body": {"reward_id": "coffee"},
        "headers": [("Idempotency-Key", "r-1002")],
    },
    ("GET", P + "/reports/summary"): {
        "name": "api_reports_get_summary",
        "params": {"program_id": "demo"},
        "query": [("from", "2026-11-01"), ("to", "2026-11-30")],
    },
}

QUEUE_SAMPLES: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "IngestQueue": (
        "sqs_ingest",
        [
            {
                "type": "order",
                "program_id": "demo",
                "member_id": "alice",
                "order_id": "q-1",
                "amount": 10,
                "currency": "EUR",
                "occurred_at": "2026-11-01T10:00:00+00:00",
            },
            {
                "type": "refund",
                "program_id": "demo",
                "member_id": "alice",
                "order_id": "q-1",
                "refund_id": "q-1-r1",
                "amount": 4,
            },
        ],
    ),
}


def _expiry_messages() -> list[dict[str, Any]]:
    """Shard 0 of what the expiry sweep enqueues at NOW, made by the sweep's own code."""
    from loyalty.services.schedule import sweep_messages

    return sweep_messages("expiry-sweep", NOW)[:1]


def _reminder_messages() -> list[dict[str, Any]]:
    """A points-expiring reminder as the publisher puts it on the notifications queue, by the publisher's code."""
    from loyalty.publishing import outbox_events
    from loyalty.services.events import event
    from loyalty.store.dynamo import to_item

    reminder = event(
        "reminder.points_expiring",
        "demo",
        "alice",
        points=120,
        expires_at="2026-11-30T14:30:00+00:00",
        window_days=7,
        channels=["email"],
        lots=["01JDEMOEARN00000000000000000"],
    )
    image = {"outbox_id": "expiring-7-01JDEMOEARN00000000000000000", "outbox": [reminder]}
    return outbox_events({"eventName": "INSERT", "dynamodb": {"NewImage": to_item(image)}})


def _stable_id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "loyalty-sample/" + "/".join(parts)))


def _path(template: str, params: dict[str, str]) -> str:
    for name, value in params.items():
        template = template.replace("{" + name + "}", value)
    return template


def api_events() -> dict[str, dict[str, Any]]:
    from infra.definitions import ROUTES
    from infra.local.auth import IAM_IDENTITY, ISSUER, apigateway_claims
    from infra.local.gateway import build_proxy_event

    missing = [f"{r.method} {r.path}" for r in ROUTES if (r.method, r.path) not in API_SAMPLES]
    if missing:
        raise SystemExit(f"no sample in events/generate.py API_SAMPLES for: {', '.join(missing)}")
    issued = int(NOW.timestamp())
    claims = apigateway_claims(
        {
            "sub": "alice",
            "cognito:username": "alice",
            "custom:member_id": "alice",
            "custom:program_id": "demo",
            "token_use": "id",
            "aud": "loyalty-local",
            "iss": ISSUER,
            "auth_time": issued,
            "iat": issued,
            "exp": issued + 3600,
        }
    )
    events: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        sample = API_SAMPLES[(route.method, route.path)]
        params = sample.get("params", {})
        body = json.dumps(sample["body"]).encode() if "body" in sample else b""
        headers = [("Accept", "application/json"), ("Host", HOST), ("User-Agent", "curl/8.5.0")]
        if body:
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if route.auth == "member":
            # A placeholder: the gateway checks the token; functions read only the claims.
            headers.append(("Authorization", "Bearer <member token from POST /_local/tokens>"))
        headers += sample.get("headers", [])
        events[sample["name"]] = build_proxy_event(
            resource=route.path,
            path=_path(route.path, params),
            method=route.method,
            headers=headers,
            query=sample.get("query", []),
            path_parameters=params,
            body=body,
            host=HOST,
            request_id=_stable_id(sample["name"]),
            now=NOW,
            identity=IAM_IDENTITY if route.auth == "iam" else None,
            authorizer={"claims": claims} if route.auth == "member" else None,
        )
    return events


def queue_events() -> dict[str, dict[str, Any]]:
    from infra.definitions import QUEUES
    from infra.local.emulator import ACCOUNT_ID
    from infra.local.pollers import sqs_record

    sent = str(int(NOW.timestamp() * 1000))
    events: dict[str, dict[str, Any]] = {}
    samples = {
        **QUEUE_SAMPLES,
        "ExpiryQueue": ("sqs_expiry", _expiry_messages()),
        "NotificationsQueue": ("sqs_notifier", _reminder_messages()),
    }
    missing = [q.logical_id for q in QUEUES if q.consumer and q.logical_id not in samples]
    if missing:
        raise SystemExit(f"no sample in events/generate.py for the consumed queues: {', '.join(missing)}")
    for queue, (name, bodies) in samples.items():
        records = []
        for position, payload in enumerate(bodies):
            body = json.dumps(payload)
            message = {
                "MessageId": _stable_id(name, str(position)),
                "ReceiptHandle": f"AQEB-sample-{name}-{position}",
                "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "Body": body,
                "Attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": sent,
                    "SenderId": "AIDALOCAL",
                    "ApproximateFirstReceiveTimestamp": sent,
                },
            }
            records.append(sqs_record(message, f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue}", REGION))
        events[name] = {"Records": records}
    return events


def job_events() -> dict[str, dict[str, Any]]:
    from infra.definitions import SCHEDULES
    from infra.local.scheduler import scheduler_event

    return {
        "job_" + s.name.replace("-", "_"): scheduler_event(s.name, NOW, _stable_id("job", s.name)) for s in SCHEDULES
    }


def stream_events() -> dict[str, dict[str, Any]]:
    from infra.definitions import TABLE
    from infra.local.emulator import ACCOUNT_ID
    from infra.local.pollers import stream_record

    stream_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{TABLE.logical_id}/stream/2026-11-23T00:00:00.000"
    keys = {"PK": {"S": "PROG#demo#MEM#alice"}, "SK": {"S": "TX#order#o-1001"}}
    earned = {
        "type": {"S": "points.earned"},
        "program_id": {"S": "demo"},
        "member_id": {"S": "alice"},
        "transaction_id": {"S": "01JDEMOEARN00000000000000000"},
        "points": {"N": "42"},
        "balance": {"N": "226"},
    }
    # A ledger entry carrying its outbox, as the earn transaction writes it (see loyalty.store.items).
    new_image = {
        **keys,
        "LEDGER_SK": {"S": "01JDEMOEARN00000000000000000"},
        "type": {"S": "entry"},
        "program_id": {"S": "demo"},
        "member_id": {"S": "alice"},
        "transaction_id": {"S": "01JDEMOEARN00000000000000000"},
        "kind": {"S": "earn"},
        "source_kind": {"S": "order"},
        "source_id": {"S": "o-1001"},
        "points": {"N": "42"},
        "recorded_at": {"S": "2026-11-23T10:00:00+00:00"},
        "occurred_at": {"S": "2026-11-20T13:30:00+00:00"},
        "outbox_id": {"S": "01JDEMOEARN00000000000000000"},
        "outbox": {"L": [{"M": earned}]},
    }
    raw = {
        "eventID": _stable_id("stream", "1").replace("-", ""),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "ApproximateCreationDateTime": NOW,
            "Keys": keys,
            "NewImage": new_image,
            "SequenceNumber": "100000000000000000001",
            "SizeBytes": len(json.dumps(new_image)),
            "StreamViewType": TABLE.stream_view,
        },
    }
    return {"stream_publisher": {"Records": [stream_record(raw, REGION, stream_arn)]}}


def render() -> dict[str, str]:
    """File name -> content of every sample."""
    events = {**api_events(), **queue_events(), **job_events(), **stream_events()}
    return {f"{name}.json": json.dumps(event, indent=2, sort_keys=True) + "\n" for name, event in events.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) the sample events in events/.")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    files = render()
    stale = [
        path.name
        for path in EVENTS_DIR.glob("*.json")
        if path.name.startswith(SAMPLE_PREFIXES) and path.name not in files
    ]
    if args.check:
        differ = [
            name
            for name, text in files.items()
            if not (EVENTS_DIR / name).exists() or (EVENTS_DIR / name).read_text() != text
        ]
        if differ or stale:
            print(f"events/ is out of date; run python events/generate.py (differ: {differ}, stale: {stale})")
            return 1
        print(f"events/: {len(files)} samples up to date")
        return 0
    for name in stale:
        (EVENTS_DIR / name).unlink()
    for name, text in files.items():
        (EVENTS_DIR / name).write_text(text)
    print(f"wrote {len(files)} samples to {EVENTS_DIR}" + (f", removed {stale}" if stale else ""))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(EVENTS_DIR.parent))  # run as a script from anywhere: import infra.*
    sys.exit(main())
