"""The local stack: emulator, resources, gateway, pollers and schedules, started and stopped together."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from infra.definitions import FUNCTIONS, QUEUES, SCHEDULES, Schedule
from infra.local import demo
from infra.local.auth import TokenIssuer
from infra.local.control import Control
from infra.local.deliveries import Deliveries
from infra.local.emulator import Emulator, apply_environment, aws_environment, start_emulator
from infra.local.gateway import Gateway, GatewayServer
from infra.local.invocation import FunctionRegistry
from infra.local.pollers import Drainer, Poller, QueueMirror, QueuePoller, StreamPoller, bus_event
from infra.local.resources import LOCAL_EMAIL_FROM, Resources, create_resources
from infra.local.scheduler import Scheduler, scheduler_event
from infra.local.settings import LocalSettings
from infra.local.state import remove_stack_file, restore_table, save_table, write_stack_file

log = logging.getLogger(__name__)


def handler_environment(resources: Resources) -> dict[str, str]:
    """What every function sees (set before any handler is imported)."""
    env = {
        **resources.handler_environment(),
        "POWERTOOLS_SERVICE_NAME": "loyalty",
        "POWERTOOLS_METRICS_NAMESPACE": "Loyalty",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    for function in FUNCTIONS:  # one process hosts every function: their extra variables are merged
        env.update(function.env)
    return env


class LocalStack:
    """Start with start(), stop with stop(); everything runs in threads of this process."""

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.emulator: Emulator | None = None
        self.resources: Resources | None = None
        self.server: GatewayServer | None = None
        self.environment: dict[str, str] = {}
        self.restored_items = 0
        self._dynamodb: Any = None

    def start(self) -> None:
        settings = self.settings
        self.emulator = start_emulator(settings.aws_port)
        endpoint = self.emulator.endpoint
        apply_environment(aws_environment(endpoint, settings.region))

        import boto3

        email_from = os.environ.get("LOYALTY_EMAIL_FROM") or LOCAL_EMAIL_FROM
        self.resources = resources = create_resources(endpoint, settings.region, email_from)
        self.environment = {**aws_environment(endpoint, settings.region), **handler_environment(resources)}
        apply_environment(self.environment)
        if settings.handlers_module:
            os.environ["LOYALTY_LOCAL_HANDLERS_MODULE"] = settings.handlers_module

        self._dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=settings.region)
        # Restored before the stream poller starts, which then begins after them: no replayed events.
        if settings.state_file:
            self.restored_items = restore_table(self._dynamodb, resources.table_name, settings.state_file)

        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=settings.region)
        streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name=settings.region)
        registry = FunctionRegistry(settings.region, settings.handlers_module)
        queue_pollers = [
            QueuePoller(sqs, q, resources.queues[q.logical_id], registry.invoke, settings.region)
            for q in QUEUES
            if q.consumer
        ]
        stream_pollers = [
            StreamPoller(
                streams,
                resources.stream_arn,
                f.name,
                registry.invoke,
                settings.region,
                start_at_latest=self.restored_items > 0,
            )
            for f in FUNCTIONS
            if f.stream_consumer
        ]
        for stream_poller in stream_pollers:
            stream_poller.open_shards()  # before anything can write, so LATEST misses no new record
        issuer = TokenIssuer()
        bus_events = QueueMirror(sqs, resources.tap_queue_url, bus_event)
        control = Control(
            issuer=issuer,
            registry=registry,
            drainer=Drainer(queue_pollers, stream_pollers),
            events=bus_events,
            # Push notifications are bus events: the deliveries list reads them from the same tap.
            notifications=Deliveries(settings.region, bus_events.drain),
        )
        gateway = Gateway(registry, issuer, settings.auth_mode, control)
        self.server = GatewayServer(gateway, port=settings.api_port)

        pollers: list[Poller] = [*queue_pollers, *stream_pollers]
        for poller in pollers:
            self._spawn(f"poller-{poller.name}", poller.run)
        if settings.schedules:
            self._spawn("scheduler", Scheduler(SCHEDULES, self._job_runner(registry)).run)
        self.server.start()
        write_stack_file(settings.local_dir, self.describe())

    def _spawn(self, name: str, target: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    @staticmethod
    def _job_runner(registry: FunctionRegistry) -> Callable[[Schedule, datetime], None]:
        def fire(schedule: Schedule, scheduled_time: datetime) -> None:
            event = scheduler_event(schedule.name, scheduled_time)
            log.info("schedule %s fires for %s", schedule.name, event["scheduled_time"])
            result = registry.invoke(schedule.function, event)
            log.info("schedule %s finished: %s", schedule.name, result)

        return fire

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return self.server.url

    def describe(self) -> dict[str, Any]:
        """The content of .local/stack.json."""
        assert self.emulator is not None and self.resources is not None and self.server is not None
        return {
            "pid": os.getpid(),
            "api_url": self.api_url,
            "api_port": self.server.port,
            "aws_endpoint": self.emulator.endpoint,
            "aws_port": self.emulator.port,
            "region": self.settings.region,
            "auth_mode": self.settings.auth_mode,
            "resources": self.resources.to_json(),
            "env": self.environment,
        }

    def seed(self) -> bool:
        return demo.seed(self.api_url)

    def stop(self) -> None:
        """Stop every part; with a state file, save the table first."""
        self._stop.set()
        if self.server is not None:
            self.server.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.settings.state_file and self._dynamodb is not None and self.resources is not None:
            try:
                count = save_table(self._dynamodb, self.resources.table_name, self.settings.state_file)
                log.info("saved %d items to %s", count, self.settings.state_file)
            except Exception:
                log.exception("could not save the state to %s", self.settings.state_file)
        remove_stack_file(self.settings.local_dir, os.getpid())
        if self.emulator is not None:
            self.emulator.stop()
