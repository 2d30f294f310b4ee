"""Sweeps one shard of the expiry (or activation) index per message, each lot in its own transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from loyalty.api.runtime import runtime
from loyalty.logs import logger
from loyalty.services.schedule import sweep_shard


def sweep(record: SQSRecord) -> dict[str, Any]:
    message = json.loads(record.body)
    report = sweep_shard(
        runtime().store,
        message["task"],
        int(message["shard"]),
        list(message["days"]),
        datetime.fromisoformat(message["now"]),
    )
    logger().info("shard swept", extra={"task": message["task"], "shard": message["shard"], **report.as_dict()})
    return report.as_dict()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(  # type: ignore[return-value]  # a TypedDict of the same shape
        event=event, record_handler=sweep, processor=processor, context=context
    )
