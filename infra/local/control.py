"""The /_local/* routes: tokens, jobs on demand, what the bus carried and what the notifier delivered."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from infra.definitions import SCHEDULES, Schedule
from infra.local.auth import MAX_TOKEN_LIFETIME_S, TokenIssuer
from infra.local.deliveries import Deliveries
from infra.local.errors import LocalError
from infra.local.gateway import LocalRoute
from infra.local.invocation import FunctionRegistry
from infra.local.pollers import Drainer, QueueMirror
from infra.local.scheduler import isoformat_utc, scheduler_event

log = logging.getLogger(__name__)

LOCAL_ROUTES: tuple[LocalRoute, ...] = (
    LocalRoute("GET", "/_local/health", "health"),
    LocalRoute("POST", "/_local/tokens", "tokens"),
    LocalRoute("GET", "/_local/events", "events"),
    LocalRoute("GET", "/_local/notifications", "notifications"),
    LocalRoute("POST", "/_local/jobs/{job}", "jobs"),
)
DEFAULT_TOKEN_LIFETIME_S = 3600


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise LocalError(400, "validation_error", "The body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise LocalError(422, "validation_error", "The body must be a JSON object")
    return payload


def _required_string(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise LocalError(422, "validation_error", f"{name} is required", {"field": name})
    return value


class Control:
    """Serves LOCAL_ROUTES for the gateway."""

    routes: Sequence[LocalRoute] = LOCAL_ROUTES

    def __init__(
        self,
        *,
        issuer: TokenIssuer,
        registry: FunctionRegistry,
        drainer: Drainer,
        events: QueueMirror,
        notifications: Deliveries,
        schedules: Sequence[Schedule] = SCHEDULES,
    ) -> None:
        self._issuer = issuer
        self._registry = registry
        self._drainer = drainer
        self._events = events
        self._notifications = notifications
        self._schedules = {s.name: s for s in schedules}

    def handle(self, name: str, params: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        if name == "health":
            return 200, {"ok": True}
        if name == "tokens":
            return 200, self.mint_token(_json_object(body))
        if name == "events":
            return 200, {"events": self._events.drain()}
        if name == "notifications":
            return 200, {"notifications": self._notifications.delivered()}
        if name == "jobs":
            return 200, self.run_job(params["job"], _json_object(body))
        raise LocalError(404, "not_found", f"No local route {name}")

    def mint_token(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        member_id = _required_string(payload, "member_id")
        program_id = _required_string(payload, "program_id")
        expires_in = payload.get("expires_in", DEFAULT_TOKEN_LIFETIME_S)
        # A negative lifetime mints an already expired token, for testing a client's 401 path.
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or abs(expires_in) > MAX_TOKEN_LIFETIME_S:
            raise LocalError(
                422,
                "validation_error",
                f"expires_in must be whole seconds, at most {MAX_TOKEN_LIFETIME_S}",
                {"field": "expires_in"},
            )
        token, expires = self._issuer.mint(member_id, program_id, expires_in)
        return {"token": token, "expires_at": isoformat_utc(datetime.fromtimestamp(expires, UTC))}

    def run_job(self, job: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        schedule = self._schedules.get(job)
        if schedule is None:
            raise LocalError(404, "not_found", f"No job named {job}", {"jobs": sorted(self._schedules)})
        now = _instant(payload.get("now"))
        event = scheduler_event(job, now)
        before = self._drainer.snapshot()
        try:
            result = self._registry.invoke(schedule.function, event)
        except Exception:
            log.exception("job %s (%s) failed", job, schedule.function)
            raise LocalError(502, "internal_error", f"Job {job} failed; see the local stack's log") from None
        complete = self._drainer.drain()
        after = self._drainer.snapshot()
        drained = {name: after[name][0] - before.get(name, (0, 0))[0] for name in after}
        failed = {name: after[name][1] - before.get(name, (0, 0))[1] for name in after}
        return {
            "job": job,
            "now": event["scheduled_time"],
            "execution_id": event["execution_id"],
            "result": result,
            "drained": drained,
            "failed": {name: n for name, n in failed.items() if n},
            "complete": complete,
        }


def _instant(value: Any) -> datetime:
    """An ISO 8601 instant with an offset (time is explicit: no local-time guesses)."""
    if not isinstance(value, str):
        raise LocalError(422, "validation_error", "now is required (ISO 8601 with offset)", {"field": "now"})
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise LocalError(422, "validation_error", f"now is not ISO 8601: {value!r}", {"field": "now"}) from None
    if instant.tzinfo is None:
        raise LocalError(422, "validation_error", "now needs an offset, e.g. Z or +01:00", {"field": "now"})
    return instant
