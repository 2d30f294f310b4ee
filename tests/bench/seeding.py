"""The data both figures start from (the tests' program 'acme') and the API events the cold starts serve."""

from __future__ import annotations

import json
from typing import Any

from infra.local.gateway import build_proxy_event
from tests.helpers import IAM_IDENTITY, Answer, Api, _match
from tests.integration.conftest import PROGRAM

PROGRAM_ID = "acme"
REWARD_ID = "coffee"
# The tiers and reward of the `program` fixture in tests/integration/conftest.py: pytest does not
# let a fixture be called outside a test, so its few calls are repeated here.
TIERS = (("bronze", 0, 1), ("silver", 500, 1.5), ("gold", 2000, 2))
REWARD = {"name": "Coffee", "type": "product", "cost": 100}


def expect(answer: Answer, status: int) -> Answer:
    """A setup call that does not answer as it should makes every later figure meaningless: stop."""
    if answer.status != status:
        raise RuntimeError(f"expected HTTP {status}, got {answer.status}: {answer.body}")
    return answer


def seed_program(api: Api) -> None:
    expect(api.put(f"/v1/programs/{PROGRAM_ID}", PROGRAM), 201)
    for tier_id, threshold, multiplier in TIERS:
        body = {"name": tier_id.title(), "threshold": threshold, "earn_multiplier": multiplier}
        expect(api.put(f"/v1/programs/{PROGRAM_ID}/tiers/{tier_id}", body), 201)
    expect(api.put(f"/v1/programs/{PROGRAM_ID}/rewards/{REWARD_ID}", REWARD), 201)


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
