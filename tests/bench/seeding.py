"""The data the figures start from (the program 'acme', members holding lots) and the events the cold starts serve."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from ulid import ULID

from infra.definitions import TABLE
from infra.local.gateway import build_proxy_event
from loyalty.domain.ledger import LedgerEntry, Member, new_lot, request_hash
from loyalty.domain.program import ProgramConfig, RollingExpiry
from loyalty.store.dynamo import to_item
from loyalty.store.items import entry_item, member_item
from tests.helpers import IAM_IDENTITY, Answer, Api, _match
from tests.integration.conftest import PROGRAM

PROGRAM_ID = "acme"
REWARD_ID = "coffee"
# The tiers and reward of the `program` fixture in tests/integration/conftest.py: pytest does not
# let a fixture be called outside a test, so its few calls are repeated here.
TIERS = (("bronze", 0, 1), ("silver", 500, 1.5), ("gold", 2000, 2))
REWARD = {"name": "Coffee", "type": "product", "cost": 100}
LOT_POINTS = 40
BATCH_WRITE = 25  # BatchWriteItem takes at most 25 items


def expect(answer: Answer, status: int) -> Answer:
    """A setup call that does not answer as it should makes every later figure meaningless: stop."""
    if answer.status != status:
        raise RuntimeError(f"expected HTTP {status}, got {answer.status}: {answer.body}")
    return answer


def seed_program(api: Api, settings: dict[str, Any] = PROGRAM) -> None:
    expect(api.put(f"/v1/programs/{PROGRAM_ID}", settings), 201)
    for tier_id, threshold, multiplier in TIERS:
        body = {"name": tier_id.title(), "threshold": threshold, "earn_multiplier": multiplier}
        expect(api.put(f"/v1/programs/{PROGRAM_ID}/tiers/{tier_id}", body), 201)
    expect(api.put(f"/v1/programs/{PROGRAM_ID}/rewards/{REWARD_ID}", REWARD), 201)


def write_members(client: Any, config: ProgramConfig, expiries: list[datetime]) -> list[str]:
    """Member n holds one lot of LOT_POINTS, earned by order o-n, that expires at `expiries[n]`; all agreed to emails.

    The items are those enrollment and earning write (the store's own mappings), put with
    BatchWriteItem: through the services, moto takes ~14 s per 1,000 members, too long for 10,000.
    No uniqueness markers or welcome due item (the jobs measured never read them), empty outboxes.
    """
    policy = config.settings.expiry
    assert isinstance(policy, RollingExpiry)  # the tests' program: points expire 365 days after they were earned
    rolling = timedelta(days=policy.days)
    member_ids, items = [], []
    for n, expires_at in enumerate(expiries):
        member_id, order_id, earned = f"m{n:05d}", f"o-{n}", expires_at - rolling
        lot_id = str(ULID.from_datetime(earned))
        lot = new_lot(config, lot_id, f"order#{order_id}", LOT_POINTS, earned, config.entry_tier())
        entry = LedgerEntry(
            lot_id, "earn", "order", order_id, LOT_POINTS, earned, earned, request_hash({"order_id": order_id}), lot
        )
        member = Member(
            PROGRAM_ID,
            member_id,
            enrolled_at=earned,
            email=f"{member_id}@example.com",
            consents={"marketing_email": True},
            tier=config.entry_tier(),
            balance=LOT_POINTS,
            lifetime_points=LOT_POINTS,
            last_activity_at=earned,
        )
        member_ids.append(member_id)
        items += [member_item(member), entry_item(PROGRAM_ID, member_id, entry, [])]
    for start in range(0, len(items), BATCH_WRITE):
        chunk = items[start : start + BATCH_WRITE]
        request: dict[str, Any] = {TABLE.logical_id: [{"PutRequest": {"Item": to_item(item)}} for item in chunk]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    return member_ids


def member_path(member_id: str) -> str:
    return f"/v1/programs/{PROGRAM_ID}/members/{member_id}"


def proxy_event(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The REST proxy event `Api.call` would send for an IAM-signed request (for a child process to serve)."""
    _, resource, params = _match(method, path)
    return build_proxy_event(
        resource=resource,
        path=path,
        method=method,
        headers=[("Content-Type", "application/json"), *(headers or {}).items()],
        path_parameters=params,
        body=json.dumps(body).encode() if body is not None else b"",
        identity=IAM_IDENTITY,
    )
