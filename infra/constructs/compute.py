"""One Lambda function per definitions.FUNCTIONS entry, each with its own least-privilege role."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from aws_cdk import Acknowledgment, ArnFormat, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.common import acknowledge_key_grant_wildcards
from infra.definitions import FUNCTIONS, TABLE
from infra.lambda_factory import LambdaFactory


@dataclass(frozen=True)
class Access:
    """What a function may do beyond its trigger (event sources grant their own reads)."""

    table: Literal["none", "read", "read_write"] = "none"
    sends_to: tuple[str, ...] = ()  # logical ids from definitions.QUEUES
    puts_events: bool = False


ACCESS: Mapping[str, Access] = {
    "docs": Access(),
    "admin": Access(table="read_write"),
    "enrollment": Access(table="read_write"),
    "earn": Access(table="read_write"),
    "ingest": Access(table="read_write"),  # consumes IngestQueue through its event source
    "redeem": Access(table="read_write"),
    # Reads the table's stream through its event source; reminders also go to the notifications queue.
    "publisher": Access(puts_events=True, sends_to=("NotificationsQueue",)),
    "expiry_sweep": Access(sends_to=("ExpiryQueue",)),  # only fans the sweep out, one message per shard
    "expiry_worker": Access(table="read_write"),  # consumes ExpiryQueue through its event source
    "reminders": Access(table="read_write"),  # its reminders leave through the outbox and the publisher
    "tier_review": Access(table="read_write"),
    # Consumes NotificationsQueue; writes delivery markers; push goes on the bus. SES and SNS: see _grant_delivery.
    "notifier": Access(table="read_write", puts_events=True),
    # Reads the stream through its event source; writes the report counters and its per-record markers.
    "reporter": Access(table="read_write"),
    "reports": Access(table="read"),  # reads the report counters and program config only
}


# Explicit actions instead of CDK's table grants, which add Scan, stream reads and an index wildcard.
# A transaction is authorised per item by these same actions (TransactGetItems needs GetItem, ...).
TABLE_READ = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query")
TABLE_WRITE = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
)


class Functions(Construct):
    """The functions by definition name (`by_name`), and the table stream's consumers (`stream_consumers`)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: dynamodb.ITable,
        key: kms.IKey,
        bus: events.IEventBus,
        queues: Mapping[str, sqs.IQueue],
        email_from: str,
    ) -> None:
        super().__init__(scope, id)
        missing = {f.name for f in FUNCTIONS} - set(ACCESS)
        if missing:
            raise ValueError(f"say what these functions may access in infra/constructs/compute.py: {missing}")

        factory = LambdaFactory(
            self,
            environment={
                "LOYALTY_TABLE": table.table_name,
                "LOYALTY_EVENT_BUS": bus.event_bus_name,
                "LOYALTY_EXPIRY_QUEUE_URL": queues["ExpiryQueue"].queue_url,
                "LOYALTY_NOTIFICATIONS_QUEUE_URL": queues["NotificationsQueue"].queue_url,
            },
        )
        self._table, self._key = table, key
        self.by_name: dict[str, lambda_.Function] = {}
        for definition in FUNCTIONS:
            function = factory.create(self, definition)
            access = ACCESS[definition.name]
            if access.table != "none":
                self._grant_table(function, writes=access.table == "read_write")
            for queue in access.sends_to:
                queues[queue].grant_send_messages(function)
            if access.puts_events:
                bus.grant_put_events_to(function)
            self.by_name[definition.name] = function
        # Each stream consumer gets its own event source mapping (its own position in the stream).
        self.stream_consumers = {f.name: self.by_name[f.name] for f in FUNCTIONS if f.stream_consumer}
        self._grant_delivery(self.by_name["notifier"], email_from)
        acknowledge_key_grant_wildcards(self, "the encrypted table and queues")

    def _grant_table(self, function: lambda_.Function, *, writes: bool) -> None:
        indexes = (*TABLE.global_indexes, *TABLE.local_indexes)
        arn = self._table.table_arn
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[*TABLE_READ, *(TABLE_WRITE if writes else ())],
                resources=[arn, *(f"{arn}/index/{index.name}" for index in indexes)],
            )
        )
        # DynamoDB acts with the caller's rights on the table's key (the KMS actions CDK's table grants use).
        (self._key.grant_encrypt_decrypt if writes else self._key.grant_decrypt)(function)

    def _grant_delivery(self, function: lambda_.Function, email_from: str) -> None:
        """The notifier sends email from one SES identity and SMS straight to phone numbers."""
        function.add_environment("LOYALTY_EMAIL_FROM", email_from)
        stack = Stack.of(self)
        domain = email_from.rpartition("@")[2]
        # SES authorises a send against the verified identity: the address itself or its domain.
        identities = [
            stack.format_arn(
                service="ses", resource="identity", resource_name=name, arn_format=ArnFormat.SLASH_RESOURCE_NAME
            )
            for name in (email_from, domain)
        ]
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail"],
                resources=identities,
                conditions={"StringEquals": {"ses:FromAddress": email_from}},
            )
        )
        assert function.role is not None
        sms = iam.Policy(
            self,
            "NotifierSms",
            statements=[
                # A phone number is no resource: SMS sent with sns:Publish(PhoneNumber=...) is authorised on '*'.
                iam.PolicyStatement(actions=["sns:Publish"], resources=["*"]),
                # ... so every topic is denied: the notifier can text members, not publish to the alarm topic.
                iam.PolicyStatement(
                    effect=iam.Effect.DENY,
                    actions=["sns:Publish"],
                    resources=[f"arn:{stack.partition}:sns:*:*:*"],
                ),
            ],
        )
        sms.attach_to_role(function.role)
        Validations.of(sms).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="SMS to a phone number (sns:Publish with PhoneNumber) has no resource to name, so IAM "
                "authorises it on '*' only; the same policy denies sns:Publish on every topic (any account or "
                "region), which leaves direct SMS as the only thing it allows.",
            )
        )
