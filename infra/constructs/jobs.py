"""EventBridge Scheduler schedules for definitions.SCHEDULES, and where their failures go."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, Duration, Stack, TimeZone, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.common import acknowledge_key_grant_wildcards, failure_queue, pascal
from infra.definitions import SCHEDULES

# A missed hourly sweep is worth running late, not a day late (the next run covers it anyway).
MAX_EVENT_AGE = Duration.hours(1)


class Jobs(Construct):
    """One schedule per job; `dead_letter_queues` holds the job failures."""

    def __init__(
        self, scope: Construct, id: str, *, stage: str, key: kms.IKey, functions: Mapping[str, lambda_.Function]
    ) -> None:
        super().__init__(scope, id)
        failures = failure_queue(self, "JobFailures", key=key, catches="scheduled jobs that failed or never ran")
        self.dead_letter_queues: dict[str, sqs.Queue] = {"JobFailures": failures}
        group = scheduler.ScheduleGroup(self, "Group", schedule_group_name=f"loyalty-{stage}")

        # Scheduler invokes Lambda asynchronously: its retries and DLQ cover delivery only, so a run
        # that fails inside the function is caught by the function's own on-failure destination
        # (one per function: a function may serve several jobs).
        for name in dict.fromkeys(job.function for job in SCHEDULES):
            functions[name].configure_async_invoke(
                retry_attempts=2, max_event_age=MAX_EVENT_AGE, on_failure=destinations.SqsDestination(failures)
            )
        for job in SCHEDULES:
            function = functions[job.function]
            role = iam.Role(
                self,
                f"{pascal(job.name)}Role",
                assumed_by=iam.ServicePrincipal(
                    "scheduler.amazonaws.com",
                    conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
                ),
                description=f"Lets the {job.name} schedule invoke its function",
            )
            failures.grant_send_messages(role)  # includes the key, which the target's own grant leaves out
            scheduler.Schedule(
                self,
                pascal(job.name),
                schedule_group=group,
                description=f"Runs the {job.name} job",
                schedule=scheduler.ScheduleExpression.expression(f"cron({job.cron})", TimeZone.ETC_UTC),
                time_window=scheduler.TimeWindow.off(),
                target=targets.LambdaInvoke(
                    function,
                    role=role,
                    # The job's logical "now" is the scheduled time, not the (possibly retried) start time.
                    input=scheduler.ScheduleTargetInput.from_object(
                        {
                            "job": job.name,
                            "scheduled_time": scheduler.ContextAttribute.scheduled_time,
                            "execution_id": scheduler.ContextAttribute.execution_id,
                        }
                    ),
                    retry_attempts=5,
                    max_event_age=MAX_EVENT_AGE,
                    dead_letter_queue=failures,
                ),
            )
            Validations.of(role).acknowledge(
                Acknowledgment(
                    id=f"AwsSolutions-IAM5[Resource::<{Stack.of(self).get_logical_id(_cfn(function))}.Arn>:*]",
                    reason=f"CDK's invoke grant also covers versions and aliases of the {job.function} "
                    "function (ARN:*); it reaches no other function.",
                )
            )
            acknowledge_key_grant_wildcards(role, "the encrypted job-failure queue")


def _cfn(function: lambda_.Function) -> lambda_.CfnFunction:
    resource = function.node.default_child
    assert isinstance(resource, lambda_.CfnFunction)
    return resource
