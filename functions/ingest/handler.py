"""Earn and refund from the ingest queue: the same payloads and exactly-once guarantee as the API.

A bad message fails alone (partial batch response); after its retries it reaches the DLQ.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from loyalty.api.runtime import runtime
from loyalty.errors import ValidationFailed
from loyalty.logs import logger
from loyalty.models import ActivityRequest, IngestMessage, OrderRequest, RefundRequest
from loyalty.services import earning, refunds

ROUTING = ("type", "program_id", "member_id")


def earn_from_message(record: SQSRecord) -> dict[str, Any]:
    body = json.loads(record.body)
    message = IngestMessage.model_validate(body)
    payload = {key: value for key, value in body.items() if key not in ROUTING}
    rt = runtime()
    config = rt.program(message.program_id)
    if message.type == "order":
        result, created = earning.earn_for_order(
            rt.store, config, message.member_id, OrderRequest.model_validate(payload), rt.now()
        )
    elif message.type == "refund":
        order_id = payload.pop("order_id", None)
        if not isinstance(order_id, str) or not order_id:
            raise ValidationFailed("a refund message names its order", field="order_id")
        result, created = refunds.refund(
            rt.store, config, message.member_id, order_id, RefundRequest.model_validate(payload), rt.now()
        )
    else:
        result, created = earning.earn_for_activity(
            rt.store, config, message.member_id, ActivityRequest.model_validate(payload), rt.now()
        )
    logger().info("ingested from queue", extra={"transaction_id": result["transaction_id"], "replay": not created})
    return result


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Report every failed message, even when all fail, so each one is retried and dead-lettered on its own.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(  # type: ignore[return-value]  # a TypedDict of the same shape
        event=event, record_handler=earn_from_message, processor=processor, context=context
    )
