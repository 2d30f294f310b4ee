"""Starts an expiry sweep (or pending activation): one message per index shard on the expiry queue."""

from __future__ import annotations

from typing import Any

from loyalty.config import settings
from loyalty.logs import logger
from loyalty.queues import scheduled_now, send_all, sqs_client
from loyalty.services.schedule import sweep_messages


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    now = scheduled_now(event)
    job = event.get("job") or "expiry-sweep"
    sent = send_all(sqs_client(), settings().expiry_queue_url, sweep_messages(job, now))
    summary = {"job": job, "now": now.isoformat(), "messages": sent}
    logger().info("sweep started", extra=summary)
    return summary
