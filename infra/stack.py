"""The loyalty engine's stack: the concerns of infra/constructs, wired together."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, Environment, Stack
from constructs import Construct

from infra.constructs.api import Api
from infra.constructs.auth import Auth
from infra.constructs.compute import Functions
from infra.constructs.data import Data
from infra.constructs.events import Events
from infra.constructs.ingest import Ingest
from infra.constructs.jobs import Jobs
from infra.constructs.monitoring import Monitoring


@dataclass(frozen=True)
class Settings:
    """What a deployment may choose (cdk context values, see infra/app.py)."""

    stage: str = "dev"
    alarm_email: str | None = None
    crm_webhook_url: str | None = None
    crm_webhook_secret: str | None = None
    pos_api_keys: bool = False
    email_from: str = "noreply@example.com"  # the SES identity reminders are sent from


class LoyaltyStack(Stack):
    def __init__(self, scope: Construct, id: str, *, settings: Settings, env: Environment | None = None) -> None:
        super().__init__(scope, id, env=env, description=f"Loyalty engine ({settings.stage})")
        stage = settings.stage

        data = Data(self, "Data", stage=stage)
        events = Events(
            self,
            "Events",
            stage=stage,
            key=data.key,
            crm_webhook_url=settings.crm_webhook_url,
            crm_webhook_secret=settings.crm_webhook_secret,
        )
        ingest = Ingest(self, "Ingest", key=data.key)
        functions = Functions(
            self,
            "Functions",
            table=data.table,
            key=data.key,
            bus=events.bus,
            queues=ingest.queues,
            email_from=settings.email_from,
        )
        ingest.feed(functions.by_name)
        for name, consumer in functions.stream_consumers.items():
            events.consume_stream(data.table, name, consumer)
        jobs = Jobs(self, "Jobs", stage=stage, key=data.key, functions=functions.by_name)
        auth = Auth(self, "Auth", stage=stage)
        api = Api(
            self,
            "Api",
            stage=stage,
            functions=functions.by_name,
            user_pool=auth.user_pool,
            pos_api_keys=settings.pos_api_keys,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            stage=stage,
            key=data.key,
            functions=functions.by_name,
            dead_letter_queues={**ingest.dead_letter_queues, **events.dead_letter_queues, **jobs.dead_letter_queues},
            rest_api=api.rest_api,
            table=data.table,
            stream_consumers=functions.stream_consumers,
            alarm_email=settings.alarm_email,
        )

        outputs = {
            "ApiUrl": api.rest_api.url,
            "UserPoolId": auth.user_pool.user_pool_id,
            "UserPoolClientId": auth.client.user_pool_client_id,
            "TableName": data.table.table_name,
            "EventBusName": events.bus.event_bus_name,
            "IngestQueueUrl": ingest.queues["IngestQueue"].queue_url,
            "AlarmTopicArn": monitoring.topic.topic_arn,
        }
        if api.api_key is not None:
            outputs["PosApiKeyId"] = api.api_key.key_id
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
