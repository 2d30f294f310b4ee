"""Daily reminders: points about to expire, once per member and window, to those who agreed."""

from __future__ import annotations

from typing import Any

from loyalty.api.runtime import runtime
from loyalty.logs import logger
from loyalty.queues import scheduled_now
from loyalty.services.schedule import send_reminders


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    now = scheduled_now(event)
    rt = runtime()
    summary = {"job": "reminders", "now": now.isoformat(), **send_reminders(rt.store, rt.cache, now).as_dict()}
    logger().info("reminders sent", extra=summary)
    return summary
