"""Delivers reminders from the notifications queue by email (SES), SMS (SNS) or push (the bus).

A message that cannot be delivered fails alone (partial batch response) and reaches the DLQ
after its retries. Delivery is at least once: a message already delivered is skipped.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from loyalty import notify
from loyalty.api.runtime import runtime
from loyalty.logs import logger


def _skipped(reason: str, ids: dict[str, str]) -> dict[str, Any]:
    # A skip succeeds: retrying cannot make an erased member or a withdrawn consent deliverable.
    logger().info("reminder not delivered", extra={**ids, "reason": reason})
    return {**ids, "delivered": False, "reason": reason}


def deliver_reminder(record: SQSRecord) -> dict[str, Any]:
    message = notify.ReminderMessage.model_validate_json(record.body)
    ids = {
        "event_id": message.event_id,
        "type": message.type,
        "program_id": message.program_id,
        "member_id": message.member_id,
    }
    rt = runtime()
    member = rt.store.get_member(message.program_id, message.member_id)
    if member is None or member.erased:
        return _skipped("member missing or erased", ids)
    if not notify.consented_channels(member):
        return _skipped("no consent for any channel", ids)
    if rt.store.delivered(message.program_id, message.member_id, message.event_id):
        return _skipped("already delivered", ids)
    config = rt.cache.get(rt.store, message.program_id)
    delivery = notify.prepare(message, member, config.settings)
    if delivery is None:
        return _skipped("no channel the member consents to and has an address for", ids)
    provider_id = notify.send(delivery)  # raises when refused: this message alone fails
    rt.store.record_delivery(message.program_id, message.member_id, message.event_id, delivery.channel, rt.now())
    logger().info("reminder delivered", extra={**ids, "channel": delivery.channel, "provider_id": provider_id})
    return {**ids, "delivered": True, "channel": delivery.channel}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Report every failed message, even when all fail, so each one is retried and dead-lettered on its own.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(  # type: ignore[return-value]  # a TypedDict of the same shape
        event=event, record_handler=deliver_reminder, processor=processor, context=context
    )
