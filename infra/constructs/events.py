"""The event bus, its archive, the stream sources (outbox publisher, reporter) and the optional CRM webhook."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, SecretValue, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.common import failure_queue, pascal
from infra.definitions import EVENT_BUS_NAME, EVENT_SOURCE

# Header that carries the CRM's token; its value comes from Secrets Manager at deploy time.
CRM_AUTH_HEADER = "x-api-key"
# The failure queue of each stream consumer (the publisher's keeps its first name).
STREAM_FAILURE_QUEUES = {"publisher": "PublishFailures", "reporter": "ReportFailures"}
# The reporter counts ledger entries as they are inserted and profile changes: Lambda drops every other
# record before invoking it (its own counter writes above all, which would otherwise come back to it).
STREAM_FILTERS: dict[str, list[dict[str, Any]]] = {
    "reporter": [
        {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"type": {"S": ["entry"]}}}},
        {"dynamodb": {"NewImage": {"type": {"S": ["member"]}}}},
    ]
}
# Reports need no second-by-second freshness: larger batches mean fewer counter transactions.
STREAM_BATCHING_WINDOW = {"reporter": Duration.seconds(5)}


class Events(Construct):
    """The bus (`bus`), plus `dead_letter_queues` for what could not be published or delivered."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: str,
        key: kms.IKey,
        crm_webhook_url: str | None = None,
        crm_webhook_secret: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self._key = key
        self.bus = events.EventBus(self, "Bus", event_bus_name=f"{EVENT_BUS_NAME}-{stage}")
        # Every event the engine published, for replay into a new consumer or after an outage.
        self.bus.archive(
            "Archive",
            description="Everything the loyalty engine published",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            retention=Duration.days(365),
        )
        # Each stream consumer adds its failure queue (consume_stream).
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        if crm_webhook_url:
            self._send_to_crm(crm_webhook_url, crm_webhook_secret or f"loyalty/{stage}/crm-webhook")

    def consume_stream(self, table: dynamodb.ITable, name: str, consumer: lambda_.Function) -> None:
        """The table's stream drives `consumer` (the outbox publisher, the reporter...): each consumer has
        its own event source mapping, so each reads every record at its own pace, in order per shard."""
        failures_id = STREAM_FAILURE_QUEUES.get(name, f"{pascal(name)}StreamFailures")
        self.dead_letter_queues[failures_id] = failure_queue(
            self, failures_id, key=self._key, catches=f"stream batches the {name} function could not handle"
        )
        filters = STREAM_FILTERS.get(name)
        consumer.add_event_source(
            sources.DynamoEventSource(
                table,
                # From the oldest record: a re-created mapping re-reads the stream's 24 hours rather than
                # skip any (delivery is at least once; each event carries its ledger transaction id).
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                retry_attempts=10,
                on_failure=sources.SqsDlq(self.dead_letter_queues[failures_id]),
                filters=[lambda_.FilterCriteria.filter(f) for f in filters] if filters else None,
                max_batching_window=STREAM_BATCHING_WINDOW.get(name),
            )
        )

    def _send_to_crm(self, url: str, secret_name: str) -> None:
        connection = events.Connection(
            self,
            "CrmConnection",
            description="The CRM's webhook token",
            authorization=events.Authorization.api_key(CRM_AUTH_HEADER, SecretValue.secrets_manager(secret_name)),
        )
        destination = events.ApiDestination(
            self,
            "CrmDestination",
            connection=connection,
            endpoint=url,
            http_method=events.HttpMethod.POST,
            rate_limit_per_second=50,  # spare the CRM; EventBridge queues and retries for up to a day
        )
        failures = failure_queue(self, "CrmFailures", key=self._key, catches="events the CRM webhook refused")
        rule = events.Rule(
            self,
            "ToCrm",
            event_bus=self.bus,
            description="Every loyalty event to the CRM webhook",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
        )
        rule.add_target(
            targets.ApiDestination(
                destination,
                dead_letter_queue=failures,
                retry_attempts=185,  # EventBridge's maximum, spread over max_event_age
                max_event_age=Duration.hours(24),
            )
        )
        # EventBridge writes to the encrypted dead-letter queue as itself, for this bus's rules only.
        # (An ARN pattern, not rule.rule_arn: key -> rule -> queue -> key would be a cycle.)
        rules = Stack.of(self).format_arn(
            service="events", resource="rule", resource_name=f"{self.bus.event_bus_name}/*"
        )
        self._key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"ArnLike": {"aws:SourceArn": rules}},
            )
        )
        self.dead_letter_queues["CrmFailures"] = failures
