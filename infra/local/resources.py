"""Create the table, queues and bus in the emulator from infra/definitions.py.

The CDK app reads the same definitions, so the local stack and AWS cannot drift apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from infra.definitions import EVENT_BUS_NAME, EVENT_SOURCE, QUEUES, TABLE, QueueDefinition, TableDefinition

TAP_NAME = "LocalEventsTap"  # local only: a rule and queue that copy every bus event for GET /_local/events
# The notifier's sender (as loyalty.config defaults it), verified in the emulator's SES: moto refuses other senders.
LOCAL_EMAIL_FROM = "loyalty@example.com"


@dataclass(frozen=True)
class QueueResources:
    logical_id: str
    url: str
    arn: str
    dlq_url: str
    dlq_arn: str


@dataclass(frozen=True)
class Resources:
    """Names, URLs and ARNs of what the emulator holds."""

    table_name: str
    table_arn: str
    stream_arn: str
    event_bus_name: str
    event_bus_arn: str
    tap_queue_url: str
    queues: dict[str, QueueResources] = field(default_factory=dict)
    email_from: str = LOCAL_EMAIL_FROM

    def handler_environment(self) -> dict[str, str]:
        """The LOYALTY_* variables loyalty.config reads (one per queue, named by convention)."""
        env = {
            "LOYALTY_TABLE": self.table_name,
            "LOYALTY_EVENT_BUS": self.event_bus_name,
            "LOYALTY_EMAIL_FROM": self.email_from,
        }
        for queue in self.queues.values():
            env[queue_url_variable(queue.logical_id)] = queue.url
        return env

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resources:
        queues = {name: QueueResources(**q) for name, q in data.get("queues", {}).items()}
        return cls(**{**data, "queues": queues})


def queue_url_variable(logical_id: str) -> str:
    """ExpiryQueue -> LOYALTY_EXPIRY_QUEUE_URL, as loyalty.config reads it."""
    stem = logical_id.removesuffix("Queue")
    return "LOYALTY_" + re.sub(r"(?<!^)(?=[A-Z])", "_", stem).upper() + "_QUEUE_URL"


def table_spec(table: TableDefinition) -> dict[str, Any]:
    """CreateTable arguments for a table definition: every index projects ALL, on-demand billing."""
    key_names = [table.partition_key, table.sort_key]
    for index in (*table.global_indexes, *table.local_indexes):
        key_names += [name for name in (index.partition_key, index.sort_key) if name]
    attributes = [{"AttributeName": name, "AttributeType": "S"} for name in dict.fromkeys(key_names)]

    def key_schema(partition_key: str, sort_key: str) -> list[dict[str, str]]:
        return [
            {"AttributeName": partition_key, "KeyType": "HASH"},
            {"AttributeName": sort_key, "KeyType": "RANGE"},
        ]

    spec: dict[str, Any] = {
        "TableName": table.logical_id,
        "AttributeDefinitions": attributes,
        "KeySchema": key_schema(table.partition_key, table.sort_key),
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": table.stream_view},
    }
    if table.global_indexes:
        spec["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": key_schema(index.partition_key or table.partition_key, index.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in table.global_indexes
        ]
    if table.local_indexes:
        spec["LocalSecondaryIndexes"] = [
            {
                # A local index always shares the table's partition key.
                "IndexName": index.name,
                "KeySchema": key_schema(table.partition_key, index.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in table.local_indexes
        ]
    return spec


def _create_queue(sqs: Any, definition: QueueDefinition) -> QueueResources:
    retention = str(definition.retention_days * 86_400)
    dlq_url = sqs.create_queue(
        QueueName=f"{definition.logical_id}DLQ", Attributes={"MessageRetentionPeriod": retention}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": definition.max_receive_count}
    url = sqs.create_queue(
        QueueName=definition.logical_id,
        Attributes={
            "VisibilityTimeout": str(definition.visibility_timeout_s),
            "MessageRetentionPeriod": retention,
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return QueueResources(definition.logical_id, url, arn, dlq_url, dlq_arn)


def create_resources(endpoint: str, region: str, email_from: str = LOCAL_EMAIL_FROM) -> Resources:
    """Create everything in the emulator at `endpoint` and return where it is."""
    import boto3

    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=region)
    events = boto3.client("events", endpoint_url=endpoint, region_name=region)
    ses = boto3.client("ses", endpoint_url=endpoint, region_name=region)

    table = dynamodb.create_table(**table_spec(TABLE))["TableDescription"]
    dynamodb.update_time_to_live(
        TableName=TABLE.logical_id,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE.ttl_attribute},
    )
    queues = {q.logical_id: _create_queue(sqs, q) for q in QUEUES}

    bus_arn = events.create_event_bus(Name=EVENT_BUS_NAME)["EventBusArn"]
    tap_url = sqs.create_queue(QueueName=TAP_NAME)["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name=TAP_NAME,
        EventBusName=EVENT_BUS_NAME,
        EventPattern=json.dumps({"source": [EVENT_SOURCE]}),
        State="ENABLED",
    )
    events.put_targets(Rule=TAP_NAME, EventBusName=EVENT_BUS_NAME, Targets=[{"Id": TAP_NAME, "Arn": tap_arn}])
    # In AWS the deployer verifies the sender (docs/deploy.md); moto's SES also refuses unverified ones.
    ses.verify_email_identity(EmailAddress=email_from)

    return Resources(
        table_name=TABLE.logical_id,
        table_arn=table["TableArn"],
        stream_arn=table["LatestStreamArn"],
        event_bus_name=EVENT_BUS_NAME,
        event_bus_arn=bus_arn,
        tap_queue_url=tap_url,
        queues=queues,
        email_from=email_from,
    )
