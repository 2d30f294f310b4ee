"""Daily tier review: members whose tier validity ended keep it only if they still qualify."""

from __future__ import annotations

from typing import Any

from loyalty.api.runtime import runtime
from loyalty.logs import logger
from loyalty.queues import scheduled_now
from loyalty.services.schedule import review_tiers


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    now = scheduled_now(event)
    rt = runtime()
    summary = {"job": "tier-review", "now": now.isoformat(), **review_tiers(rt.store, rt.cache, now).as_dict()}
    logger().info("tiers reviewed", extra=summary)
    return summary
