"""Alarms to an encrypted SNS topic, and one dashboard with the business metrics."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.common import pascal
from infra.definitions import TABLE
from infra.lambda_factory import METRICS_NAMESPACE

# Emitted by the reporter from the table's stream (loyalty.services.reports.business_metrics).
BUSINESS_METRICS = (
    "PointsEarned",
    "PointsRedeemed",
    "PointsExpired",
    "PointsReversed",
    "PointsCancelled",
    "Redemptions",
    "Enrollments",
)
FIVE_MINUTES = Duration.minutes(5)
P99_LATENCY_MS = 1500
# The outbox is late when the publisher reads records older than this.
MAX_STREAM_AGE_MS = 60_000


class Monitoring(Construct):
    """`topic` receives every alarm; `alarms` by name, for tests and operators."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: str,
        key: kms.IKey,
        functions: Mapping[str, lambda_.Function],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        rest_api: apigw.RestApi,
        table: dynamodb.Table,
        stream_consumers: Mapping[str, lambda_.Function],
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(self, "Alarms", display_name=f"Loyalty {stage} alarms", master_key=key, enforce_ssl=True)
        # CloudWatch publishes to the encrypted topic as itself (AWS's documented key policy for alarms).
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
            )
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self._action = actions.SnsAction(self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        for name, queue in dead_letter_queues.items():
            self._alarm(
                f"{name}DeadLetters",
                queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum"),
                threshold=1,
                description=f"Messages are waiting in the {name} dead-letter queue: look, fix, redrive.",
            )
        for name, function in functions.items():
            self._alarm(
                f"{pascal(name)}Errors",
                function.metric_errors(period=FIVE_MINUTES),
                threshold=1,
                description=f"The {name} function failed (unhandled errors or timeouts).",
            )
            self._alarm(
                f"{pascal(name)}Throttles",
                function.metric_throttles(period=FIVE_MINUTES),
                threshold=1,
                description=f"The {name} function was throttled (concurrency limit).",
            )
        self._alarm(
            "Api5xx",
            rest_api.metric_server_error(period=FIVE_MINUTES),
            threshold=5,
            description="The API answered 5XX.",
        )
        self._alarm(
            "ApiLatencyP99",
            rest_api.metric_latency(period=FIVE_MINUTES, statistic="p99"),
            threshold=P99_LATENCY_MS,
            evaluation_periods=3,
            description=f"The API's p99 latency stayed above {P99_LATENCY_MS} ms for 15 minutes.",
        )
        self._alarm(
            "TableThrottles",
            _table_throttles(table),
            threshold=1,
            description="DynamoDB throttled reads or writes on the table or an index (hot key?).",
        )
        for name, consumer in stream_consumers.items():
            # The publisher's lag delays events; the reporter's, the reports.
            self._alarm(
                "OutboxLag" if name == "publisher" else f"{pascal(name)}StreamLag",
                consumer.metric("IteratorAge", period=FIVE_MINUTES, statistic="Maximum"),
                threshold=MAX_STREAM_AGE_MS,
                description=f"The {name} function reads the table's stream late: it is failing or behind.",
            )

        self._dashboard(stage, functions, dead_letter_queues, rest_api, table)

    def _alarm(
        self,
        id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            id,
            metric=metric,
            alarm_description=description,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms[id] = alarm

    def _dashboard(
        self,
        stage: str,
        functions: Mapping[str, lambda_.Function],
        dead_letter_queues: Mapping[str, sqs.IQueue],
        rest_api: apigw.RestApi,
        table: dynamodb.Table,
    ) -> None:
        def graph(title: str, metrics: list[cloudwatch.IMetric], width: int = 8) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=metrics, width=width, height=6)

        def each_function(metric: str, statistic: str) -> list[cloudwatch.IMetric]:
            return [
                f.metric(metric, statistic=statistic, period=FIVE_MINUTES, label=name) for name, f in functions.items()
            ]

        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"loyalty-{stage}")
        dashboard.add_widgets(*(graph(name, [_business_metric(name)], width=6) for name in BUSINESS_METRICS))
        dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24))
        dashboard.add_widgets(
            graph("API requests", [rest_api.metric_count(period=FIVE_MINUTES)]),
            graph(
                "API errors",
                [rest_api.metric_client_error(period=FIVE_MINUTES), rest_api.metric_server_error(period=FIVE_MINUTES)],
            ),
            graph(
                "API latency",
                [rest_api.metric_latency(period=FIVE_MINUTES, statistic=s) for s in ("p50", "p99")],
            ),
        )
        dashboard.add_widgets(
            graph("Function errors", each_function("Errors", "Sum")),
            graph("Function throttles", each_function("Throttles", "Sum")),
            graph("Function duration p99", each_function("Duration", "p99")),
        )
        dashboard.add_widgets(
            graph(
                "Dead-letter queues",
                [
                    q.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, label=name)
                    for name, q in dead_letter_queues.items()
                ],
            ),
            graph(
                "Table capacity used",
                [
                    table.metric_consumed_read_capacity_units(period=FIVE_MINUTES),
                    table.metric_consumed_write_capacity_units(period=FIVE_MINUTES),
                ],
            ),
            graph("Table throttles", [_table_throttles(table)]),
        )


def _business_metric(name: str) -> cloudwatch.IMetric:
    # Powertools adds a `service` dimension per function; the search sums whichever functions emit it.
    return cloudwatch.MathExpression(
        expression=f"SUM(SEARCH('{{{METRICS_NAMESPACE},service}} MetricName=\"{name}\"', 'Sum', 300))",
        label=name,
        period=FIVE_MINUTES,
    )


def _table_throttles(table: dynamodb.Table) -> cloudwatch.IMetric:
    """Read and write throttle events of the table and of each global index, summed."""
    metrics: dict[str, cloudwatch.IMetric] = {}
    for kind in ("Read", "Write"):
        metrics[f"{kind.lower()}"] = table.metric(f"{kind}ThrottleEvents", period=FIVE_MINUTES, statistic="Sum")
        for i, index in enumerate(TABLE.global_indexes):
            metrics[f"{kind.lower()}{i}"] = table.metric(
                f"{kind}ThrottleEvents",
                period=FIVE_MINUTES,
                statistic="Sum",
                dimensions_map={"TableName": table.table_name, "GlobalSecondaryIndexName": index.name},
            )
    return cloudwatch.MathExpression(
        expression=" + ".join(f"FILL({id}, 0)" for id in metrics),
        using_metrics=metrics,
        label="Throttle events",
        period=FIVE_MINUTES,
    )
