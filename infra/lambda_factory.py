"""The one place that knows how a Lambda function of this project is configured.

Every function gets: Python on arm64 (20% cheaper per ms than x86), the shared code asset and the
dependencies layer, JSON logs to its own log group with a retention, active X-Ray tracing, the
common environment plus its Powertools service name, and its own role that starts with nothing but
permission to write its logs. Whatever else it may do is granted by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import bundle
from infra.constructs.common import pascal
from infra.definitions import FunctionDefinition

RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
METRICS_NAMESPACE = "Loyalty"

if RUNTIME.name != f"python{bundle.PYTHON_VERSION}":  # the layer's wheels are built for one version
    raise RuntimeError(f"{RUNTIME.name} does not match the layer's Python {bundle.PYTHON_VERSION}")


def service_name(function_name: str) -> str:
    """The Powertools service name, also the `service` dimension of the business metrics."""
    return f"loyalty-{function_name}"


class LambdaFactory:
    """Creates the project's functions with the defaults above; one code asset and one layer for all."""

    def __init__(
        self,
        scope: Construct,
        *,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        self._environment = dict(environment)
        self._log_retention = log_retention
        # The bundle names its directories by a hash of what they were built from: CDK need not hash them again.
        code, dependencies = bundle.code_asset(), bundle.dependencies_layer()
        self._code = lambda_.Code.from_asset(str(code), asset_hash=code.name)
        self._layer = lambda_.LayerVersion(
            scope,
            "Dependencies",
            code=lambda_.Code.from_asset(str(dependencies), asset_hash=dependencies.name),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="Locked runtime dependencies of the loyalty functions (boto3 comes with the runtime)",
        )

    def create(self, scope: Construct, definition: FunctionDefinition) -> lambda_.Function:
        id = pascal(definition.name)
        role = iam.Role(
            scope,
            f"{id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the loyalty {definition.name} function",
        )
        log_group = logs.LogGroup(
            scope,
            f"{id}Logs",
            retention=self._log_retention,
            # Operational logs with a retention anyway; the ledger itself lives in the table.
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Instead of the managed AWSLambdaBasicExecutionRole (any log group): this log group only.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        function = lambda_.Function(
            scope,
            id,
            description=definition.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self._code,
            handler=definition.handler,
            layers=[self._layer],
            role=role,
            memory_size=definition.memory_mb,
            timeout=Duration.seconds(definition.timeout_s),
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                **self._environment,
                "POWERTOOLS_SERVICE_NAME": service_name(definition.name),
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                **definition.env,
            },
        )
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="Only actions without resource-level permissions are allowed on '*': "
                "xray:PutTraceSegments and xray:PutTelemetryRecords for active tracing, and "
                "dynamodb:ListStreams for the stream consumer (a test keeps it that way).",
            )
        )
        Validations.of(function).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason=f"{RUNTIME.name} is the newest Python the project builds and tests on (the layer's "
                "wheels and the test machines); python3.14 follows when CI runs it.",
            )
        )
        return function
