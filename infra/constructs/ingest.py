"""The queues of definitions.QUEUES, each with its dead-letter queue, and the functions they feed."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.common import encrypted_queue
from infra.definitions import QUEUES, QueueDefinition, function


class Ingest(Construct):
    """`queues` and `dead_letter_queues` by the definitions' logical ids."""

    def __init__(self, scope: Construct, id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, id)
        self.queues: dict[str, sqs.Queue] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for definition in QUEUES:
            dead_letters = encrypted_queue(self, f"{definition.logical_id}DeadLetters", key=key)
            queue = encrypted_queue(
                self,
                definition.logical_id,
                key=key,
                retention=Duration.days(definition.retention_days),
                visibility_timeout=Duration.seconds(_visibility_timeout_s(definition)),
                dead_letter_queue=sqs.DeadLetterQueue(
                    queue=dead_letters, max_receive_count=definition.max_receive_count
                ),
            )
            # A fixed logical id, as in definitions.py: a refactor must not replace a queue holding messages.
            resource = queue.node.default_child
            assert isinstance(resource, sqs.CfnQueue)
            resource.override_logical_id(definition.logical_id)
            self.queues[definition.logical_id] = queue
            self.dead_letter_queues[definition.logical_id] = dead_letters

    def feed(self, functions: Mapping[str, lambda_.Function]) -> None:
        """Connect each queue that has a consumer to its function."""
        for definition in QUEUES:
            if definition.consumer is None:
                continue
            functions[definition.consumer].add_event_source(
                sources.SqsEventSource(
                    self.queues[definition.logical_id],
                    batch_size=definition.batch_size,
                    # A failed message is retried alone; the rest of the batch is deleted.
                    report_batch_item_failures=True,
                    max_concurrency=definition.max_concurrency,
                )
            )


def _visibility_timeout_s(definition: QueueDefinition) -> int:
    """The definition's timeout, refused when shorter than AWS's six times the consumer's timeout."""
    if definition.consumer is not None:
        minimum = 6 * function(definition.consumer).timeout_s
        if definition.visibility_timeout_s < minimum:
            raise ValueError(
                f"{definition.logical_id}: visibility timeout {definition.visibility_timeout_s}s is below "
                f"6x the timeout of {definition.consumer} ({minimum}s)"
            )
    return definition.visibility_timeout_s
