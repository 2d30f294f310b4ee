"""Small pieces several constructs share: construct ids and encrypted queues."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# SQS keeps a message at most 14 days; a dead-letter queue keeps its messages as long as it can.
MAX_RETENTION = Duration.days(14)


def pascal(name: str) -> str:
    """`expiry_sweep` / `expiry-sweep` -> `ExpirySweep`, for construct ids."""
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def encrypted_queue(
    scope: Construct,
    id: str,
    *,
    key: kms.IKey,
    retention: Duration = MAX_RETENTION,
    visibility_timeout: Duration | None = None,
    dead_letter_queue: sqs.DeadLetterQueue | None = None,
) -> sqs.Queue:
    """A queue encrypted with the customer key that refuses requests without TLS."""
    return sqs.Queue(
        scope,
        id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        # One data key serves many messages: fewer KMS calls (cost, throttling) for the same protection.
        data_key_reuse=Duration.hours(1),
        enforce_ssl=True,
        retention_period=retention,
        visibility_timeout=visibility_timeout,
        dead_letter_queue=dead_letter_queue,
    )


def failure_queue(scope: Construct, id: str, *, key: kms.IKey, catches: str) -> sqs.Queue:
    """A dead-letter queue for a service's failed deliveries (not another queue's redrive target)."""
    queue = encrypted_queue(scope, id, key=key)
    Validations.of(queue).acknowledge(
        Acknowledgment(
            id="AwsSolutions-SQS3",
            reason=f"This queue is itself the dead-letter queue for {catches}; "
            "nothing consumes it automatically, its depth raises an alarm and operators redrive it.",
        )
    )
    return queue


def acknowledge_key_grant_wildcards(scope: Construct, used_for: str) -> None:
    """The two wildcard actions in CDK's grants on the stack's one KMS key (its only resource)."""
    Validations.of(scope).acknowledge(
        Acknowledgment(
            id="AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
            reason=f"Writing to {used_for} needs data keys of the stack's one customer key; "
            "the statement names that key only.",
        ),
        Acknowledgment(
            id="AwsSolutions-IAM5[Action::kms:ReEncrypt*]",
            reason=f"Part of CDK's encrypt grant for {used_for}; the statement names the stack's one "
            "customer key only.",
        ),
    )
