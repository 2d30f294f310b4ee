"""The single table of definitions.TABLE and the customer-managed key that encrypts the stack's data."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.definitions import TABLE

STRING = dynamodb.AttributeType.STRING


class Data(Construct):
    """The table and the key. Both are retained when the stack is deleted: the ledger outlives stacks."""

    def __init__(self, scope: Construct, id: str, *, stage: str) -> None:
        super().__init__(scope, id)

        # One key for the table, the queues and the alarm topic. Retained with the table, because a
        # retained table whose key is deleted can never be read again.
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/loyalty-{stage}",
            description=f"Loyalty engine ({stage}): table, queues and alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

        self.table = dynamodb.Table(
            self,
            TABLE.logical_id,
            partition_key=dynamodb.Attribute(name=TABLE.partition_key, type=STRING),
            sort_key=dynamodb.Attribute(name=TABLE.sort_key, type=STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            stream=dynamodb.StreamViewType[TABLE.stream_view],
            time_to_live_attribute=TABLE.ttl_attribute,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # A fixed logical id: moving this construct in a refactor must never replace the ledger.
        table_resource = self.table.node.default_child
        assert isinstance(table_resource, dynamodb.CfnTable)
        table_resource.override_logical_id(TABLE.logical_id)

        for index in TABLE.global_indexes:
            assert index.partition_key is not None, f"global index {index.name} needs a partition key"
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.partition_key, type=STRING),
                sort_key=dynamodb.Attribute(name=index.sort_key, type=STRING),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        for index in TABLE.local_indexes:
            self.table.add_local_secondary_index(
                index_name=index.name,
                sort_key=dynamodb.Attribute(name=index.sort_key, type=STRING),
                projection_type=dynamodb.ProjectionType.ALL,
            )
