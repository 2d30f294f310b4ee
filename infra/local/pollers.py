"""What Lambda's event source mappings do, done locally: SQS and DynamoDB stream pollers.

moto never invokes a function, so these threads receive, build the event Lambda would build,
call the consumer and honour its partial batch response. Each poller can also be pumped
synchronously (POST /_local/jobs drains everything a job set in motion).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infra.definitions import QueueDefinition
from infra.local.resources import QueueResources

log = logging.getLogger(__name__)

Invoke = Callable[[str, Any], Any]
RETRY_VISIBILITY_S = 1  # a failed message comes back after ~1 s, so redrive to the DLQ takes seconds locally
_SQS_RECEIVE_MAX = 10


def batch_failures(result: Any, identifiers: Sequence[str]) -> set[str]:
    """The identifiers a partial batch response marks as failed, read as Lambda reads it.

    No response, no `batchItemFailures` or an empty list mean success; a response that is not
    an object, or names an unknown or empty identifier, fails the whole batch.
    """
    everything = set(identifiers)
    if result is None:
        return set()
    if not isinstance(result, dict):
        return everything
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return attribute


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of an SQS event, from a ReceiveMessage message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _jsonable(value: Any) -> Any:
    """boto3 hands binary attribute values as bytes; Lambda's event has them base64-encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(item) for item in value]
    return value


def stream_record(raw: Mapping[str, Any], region: str, stream_arn: str) -> dict[str, Any]:
    """One record of a DynamoDB stream event, from a GetRecords record."""
    change = dict(raw["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())  # Lambda sends epoch seconds
    record: dict[str, Any] = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": raw.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": _jsonable(change),
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in raw:  # TTL deletions carry the DynamoDB service as the user
        record["userIdentity"] = dict(raw["userIdentity"])
    return record


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.processed = 0
        self.failed = 0

    def add(self, processed: int, failed: int) -> None:
        with self._lock:
            self.processed += processed
            self.failed += failed


class QueuePoller:
    """Feeds one queue's consumer with SQS events, deleting only what the consumer handled."""

    def __init__(
        self, sqs: Any, definition: QueueDefinition, queue: QueueResources, invoke: Invoke, region: str
    ) -> None:
        if definition.consumer is None:
            raise ValueError(f"{definition.logical_id} has no consumer")
        self.name = definition.logical_id
        self.function: str = definition.consumer
        self._sqs = sqs
        self._queue = queue
        self._batch_size = max(1, min(definition.batch_size, _SQS_RECEIVE_MAX))
        self._invoke = invoke
        self._region = region
        self.counters = _Counters()

    def poll_once(self, wait_s: int = 0) -> int:
        """Receive one batch and deliver it; returns how many messages were delivered."""
        response = self._sqs.receive_message(
            QueueUrl=self._queue.url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        records = [sqs_record(m, self._queue.arn, self._region) for m in messages]
        ids = [r["messageId"] for r in records]
        try:
            failed = batch_failures(self._invoke(self.function, {"Records": records}), ids)
        except Exception:
            log.exception(
                "%s failed on a batch of %d from %s; every message will be retried", self.function, len(ids), self.name
            )
            failed = set(ids)
        if failed:
            log.warning(
                "%s: %d of %d messages failed and return in %d s", self.name, len(failed), len(ids), RETRY_VISIBILITY_S
            )
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if retry:
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue.url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": RETRY_VISIBILITY_S}
                    for i, m in enumerate(retry)
                ],
            )
        self.counters.add(len(done), len(retry))
        return len(messages)

    def backlog(self) -> int:
        """Messages still to handle: visible, in flight (received, not deleted) and delayed."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue.url, AttributeNames=names)["Attributes"]
        return sum(int(attributes.get(name, 0)) for name in names)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once(wait_s=1)
            except Exception:  # a poller must outlive any failure, as Lambda's does
                log.exception("polling %s failed", self.name)
                stop.wait(1)


@dataclass
class _ShardCursor:
    iterator: str | None
    pending: list[dict[str, Any]]
    last_sequence: str | None = None
    failing_sequence: str | None = None
    attempts: int = 0


class StreamPoller:
    """Feeds a stream consumer from the table's stream, shard by shard, in order.

    On a partial batch failure it retries from the first failed record (what Lambda does with
    ReportBatchItemFailures); a record that still fails after `max_retries` retries is logged and
    skipped so one poison record cannot stop the outbox.
    """

    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        function: str,
        invoke: Invoke,
        region: str,
        batch_size: int = 100,
        max_retries: int = 3,
        start_at_latest: bool = False,
    ) -> None:
        self.name = "stream"
        self.function = function
        self._streams = streams
        self._stream_arn = stream_arn
        self._invoke = invoke
        self._region = region
        self._batch_size = batch_size
        self._max_retries = max_retries
        self._start = "LATEST" if start_at_latest else "TRIM_HORIZON"
        self._shards: dict[str, _ShardCursor] = {}
        self._lock = threading.Lock()  # the background thread and a pump share the cursors
        self.counters = _Counters()

    def open_shards(self) -> None:
        """Take the shard iterators now (LATEST means: after what the table holds at this moment)."""
        with self._lock:
            self._discover_shards()

    def _discover_shards(self) -> None:
        description = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self._shards:
                iterator = self._streams.get_shard_iterator(
                    StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType=self._start
                )["ShardIterator"]
                self._shards[shard_id] = _ShardCursor(iterator=iterator, pending=[])

    def poll_once(self) -> int:
        """Fetch and deliver at most one batch per shard; returns how many records were delivered."""
        with self._lock:
            if not self._shards:
                self._discover_shards()
            return sum(self._poll_shard(shard_id, cursor) for shard_id, cursor in self._shards.items())

    def _poll_shard(self, shard_id: str, cursor: _ShardCursor) -> int:
        if not cursor.pending:
            if cursor.iterator is None:
                return 0  # a closed shard
            try:
                response = self._streams.get_records(ShardIterator=cursor.iterator, Limit=self._batch_size)
            except self._streams.exceptions.ExpiredIteratorException:
                cursor.iterator = self._resume_iterator(shard_id, cursor)
                return 0
            cursor.iterator = response.get("NextShardIterator")
            cursor.pending = list(response.get("Records", []))
            if not cursor.pending:
                return 0

        batch = cursor.pending
        records = [stream_record(raw, self._region, self._stream_arn) for raw in batch]
        sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
        try:
            failed = batch_failures(self._invoke(self.function, {"Records": records}), sequences)
        except Exception:
            log.exception("%s failed on %d stream records", self.function, len(records))
            failed = set(sequences)

        first_failed = min((sequences.index(s) for s in failed), default=len(batch))
        succeeded = batch[:first_failed]
        cursor.pending = batch[first_failed:]
        if succeeded:
            cursor.last_sequence = succeeded[-1]["dynamodb"]["SequenceNumber"]
        skipped = 0
        if cursor.pending:
            sequence = cursor.pending[0]["dynamodb"]["SequenceNumber"]
            cursor.attempts = cursor.attempts + 1 if cursor.failing_sequence == sequence else 1
            cursor.failing_sequence = sequence
            if cursor.attempts > self._max_retries:
                poison = cursor.pending.pop(0)
                skipped = 1
                cursor.last_sequence = sequence
                cursor.failing_sequence, cursor.attempts = None, 0
                log.error(
                    "%s: skipping stream record %s (%s) after %d retries: %s",
                    self.function,
                    sequence,
                    poison.get("eventName"),
                    self._max_retries,
                    json.dumps(_jsonable(poison.get("dynamodb", {}).get("Keys", {}))),
                )
        else:
            cursor.failing_sequence, cursor.attempts = None, 0
        self.counters.add(len(succeeded), skipped)
        return len(records)

    def _resume_iterator(self, shard_id: str, cursor: _ShardCursor) -> str:
        arguments: dict[str, Any] = {"StreamArn": self._stream_arn, "ShardId": shard_id}
        if cursor.last_sequence:
            arguments |= {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": cursor.last_sequence}
        else:
            arguments["ShardIteratorType"] = "TRIM_HORIZON"
        return str(self._streams.get_shard_iterator(**arguments)["ShardIterator"])

    def is_idle(self) -> bool:
        with self._lock:
            return all(not cursor.pending for cursor in self._shards.values())

    def run(self, stop: threading.Event, interval_s: float = 0.25) -> None:
        while not stop.is_set():
            try:
                failed_before = self.counters.failed
                delivered = self.poll_once()
                # Lambda polls each shard about four times a second; back off the same while idle or failing.
                if delivered == 0 or self.counters.failed != failed_before or not self.is_idle():
                    stop.wait(interval_s)
            except Exception:
                log.exception("polling the table's stream failed")
                stop.wait(1)


Poller = QueuePoller | StreamPoller


class Drainer:
    """Pumps every poller until nothing is left to deliver (for POST /_local/jobs)."""

    def __init__(self, queue_pollers: Sequence[QueuePoller], stream_pollers: Sequence[StreamPoller]) -> None:
        self._queues = list(queue_pollers)
        self._streams = list(stream_pollers)

    def snapshot(self) -> dict[str, tuple[int, int]]:
        """Processed and failed counts so far, per queue and for the stream."""
        totals: dict[str, tuple[int, int]] = {}
        pollers: list[Poller] = [*self._queues, *self._streams]
        for poller in pollers:
            processed, failed = totals.get(poller.name, (0, 0))
            totals[poller.name] = (processed + poller.counters.processed, failed + poller.counters.failed)
        return totals

    def drain(self, timeout_s: float = 60.0) -> bool:
        """Deliver until queues and stream are quiet (or dead-lettered); False if time ran out."""
        deadline = time.monotonic() + timeout_s
        while True:
            # The backlog is read first: when nothing is in flight then, every write a consumer made is
            # already in the stream, so a round that then delivers nothing means everything is done.
            backlog = sum(p.backlog() for p in self._queues)
            delivered = sum(p.poll_once() for p in self._streams)
            delivered += sum(p.poll_once(wait_s=0) for p in self._queues)
            if delivered == 0:
                if backlog == 0 and all(p.is_idle() for p in self._streams):
                    return True
                if time.monotonic() > deadline:
                    log.warning("draining gave up after %.0f s with work left", timeout_s)
                    return False
                time.sleep(0.2)  # failed messages are invisible for RETRY_VISIBILITY_S


class QueueMirror:
    """Drains a queue nobody consumes locally (the events tap) into memory."""

    def __init__(self, sqs: Any, url: str, convert: Callable[[Mapping[str, Any]], Any]) -> None:
        self._sqs = sqs
        self._url = url
        self._convert = convert
        self._items: list[Any] = []
        self._lock = threading.Lock()

    def drain(self) -> list[Any]:
        """Everything received so far, oldest first."""
        with self._lock:
            received: list[Mapping[str, Any]] = []
            while messages := self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=_SQS_RECEIVE_MAX,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["SentTimestamp"],
                MessageAttributeNames=["All"],
            ).get("Messages", []):
                received += messages
                self._sqs.delete_message_batch(
                    QueueUrl=self._url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )
            received.sort(key=lambda m: int(m.get("Attributes", {}).get("SentTimestamp", 0)))
            self._items += [self._convert(m) for m in received]
            return list(self._items)


def bus_event(message: Mapping[str, Any]) -> Any:
    """The EventBridge event a rule delivered to the tap queue, as delivered."""
    return json.loads(message["Body"])
