"""The platform's resources as plain data: one source for the CDK app and the local stack.

Nothing here imports aws_cdk or boto3, so the local stack can build the same table,
queues, routes and schedules that `cdk deploy` builds, and a test can prove they match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Auth = Literal["iam", "member"]


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str | None  # None for a local secondary index (shares the table's PK)
    sort_key: str


@dataclass(frozen=True)
class TableDefinition:
    logical_id: str
    partition_key: str
    sort_key: str
    global_indexes: tuple[Index, ...]
    local_indexes: tuple[Index, ...]
    ttl_attribute: str
    stream_view: str


TABLE = TableDefinition(
    logical_id="LoyaltyTable",
    partition_key="PK",
    sort_key="SK",
    global_indexes=(
        # Sparse: lots with points left carry GSI1PK=EXP#<day>#<shard>; redemption codes CODE#...
        Index("GSI1", "GSI1PK", "GSI1SK"),
    ),
    local_indexes=(
        # Ledger of one member in time order (sort key: the transaction's ULID).
        Index("LEDGER", None, "LEDGER_SK"),
        # Sparse: the profile ("#PROFILE") then the member's open lots, soonest-expiring first,
        # so one strongly consistent Query returns everything a redemption needs.
        Index("OPEN", None, "OPEN_SK"),
    ),
    ttl_attribute="ttl",
    stream_view="NEW_AND_OLD_IMAGES",
)


@dataclass(frozen=True)
class QueueDefinition:
    logical_id: str
    consumer: str | None  # the function fed by this queue
    max_receive_count: int = 5
    batch_size: int = 10
    visibility_timeout_s: int = 180  # >= 6x the consumer's timeout
    retention_days: int = 14
    max_concurrency: int = 10  # concurrent batches the consumer may run (AWS: 2 to 1,000); guards the table


QUEUES: tuple[QueueDefinition, ...] = (
    QueueDefinition("IngestQueue", consumer="ingest"),
    QueueDefinition("ExpiryQueue", consumer="expiry_worker"),
    QueueDefinition("NotificationsQueue", consumer="notifier"),
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    auth: Auth = "iam"


P = "/v1/programs/{program_id}"
M = P + "/members/{member_id}"

ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/openapi.json", "docs"),
    Route("PUT", P, "admin"),
    Route("GET", P, "admin"),
    Route("PUT", P + "/tiers/{tier_id}", "admin"),
    Route("PUT", P + "/rewards/{reward_id}", "admin"),
    Route("PUT", P + "/segments/{segment_id}", "admin"),
    Route("GET", P + "/segments/{segment_id}", "admin"),
    Route("PUT", P + "/earning-rules/{rule_id}", "admin"),
    Route("GET", P + "/earning-rules/{rule_id}", "admin"),
    Route("POST", P + "/members", "enrollment"),
    Route("GET", M, "enrollment"),
    Route("PATCH", M, "enrollment"),
    Route("DELETE", M, "enrollment"),
    Route("GET", M + "/export", "enrollment"),
    Route("GET", "/v1/me", "enrollment", auth="member"),
    Route("POST", M + "/orders", "earn"),
    Route("POST", M + "/activities", "earn"),
    Route("POST", M + "/orders/{order_id}/refunds", "earn"),
    Route("GET", M + "/transactions", "redeem"),
    Route("GET", M + "/lots", "redeem"),
    Route("GET", M + "/rewards", "redeem"),
    Route("POST", M + "/redemptions", "redeem"),
    Route("POST", M + "/redemptions/{redemption_id}/cancel", "redeem"),
    Route("POST", P + "/codes/{code}/consume", "redeem"),
    Route("GET", "/v1/me/transactions", "redeem", auth="member"),
    Route("GET", "/v1/me/rewards", "redeem", auth="member"),
    Route("POST", "/v1/me/redemptions", "redeem", auth="member"),
    Route("GET", P + "/reports/summary", "reports"),
)


@dataclass(frozen=True)
class Schedule:
    name: str  # also the job name of POST /_local/jobs/{job}
    function: str
    cron: str  # EventBridge Scheduler cron(...) fields: minutes hours day-of-month month day-of-week year


SCHEDULES: tuple[Schedule, ...] = (
    Schedule("expiry-sweep", "expiry_sweep", "0 * * * ? *"),
    Schedule("pending-activation", "expiry_sweep", "30 * * * ? *"),
    Schedule("reminders", "reminders", "0 8 * * ? *"),
    Schedule("tier-review", "tier_review", "30 2 * * ? *"),
)


@dataclass(frozen=True)
class FunctionDefinition:
    name: str
    handler: str  # module:function, importable from the bundle root
    description: str
    timeout_s: int = 10
    memory_mb: int = 512
    stream_consumer: bool = False
    env: dict[str, str] = field(default_factory=dict)


FUNCTIONS: tuple[FunctionDefinition, ...] = (
    FunctionDefinition("docs", "functions.docs.handler.lambda_handler", "Serves the OpenAPI document"),
    FunctionDefinition("admin", "functions.admin.handler.lambda_handler", "Program settings, tiers, rewards"),
    FunctionDefinition("enrollment", "functions.enrollment.handler.lambda_handler", "Members: enroll, profile, erase"),
    FunctionDefinition("earn", "functions.earn.handler.lambda_handler", "Earn points for orders and activities"),
    FunctionDefinition("ingest", "functions.ingest.handler.lambda_handler", "Earn from the ingest queue", timeout_s=30),
    FunctionDefinition("redeem", "functions.redeem.handler.lambda_handler", "Redeem, cancel, ledger and lots"),
    FunctionDefinition(
        "publisher",
        "functions.publisher.handler.lambda_handler",
        "Publishes outbox events from the table's stream to the bus",
        timeout_s=30,
        stream_consumer=True,
    ),
    FunctionDefinition(
        "reporter",
        "functions.reporter.handler.lambda_handler",
        "Keeps the report counters from the table's stream",
        timeout_s=60,
        stream_consumer=True,
    ),
    FunctionDefinition("reports", "functions.reports.handler.lambda_handler", "Summary reports from the counters"),
    FunctionDefinition("expiry_sweep", "functions.expiry_sweep.handler.lambda_handler", "Starts an expiry sweep", 60),
    FunctionDefinition("expiry_worker", "functions.expiry_worker.handler.lambda_handler", "Expires due lots", 30),
    FunctionDefinition("reminders", "functions.reminders.handler.lambda_handler", "Sends due reminders", 60),
    FunctionDefinition("tier_review", "functions.tier_review.handler.lambda_handler", "Reviews tiers", 60),
    FunctionDefinition(
        "notifier",
        "functions.notifier.handler.lambda_handler",
        "Delivers reminders by email, SMS or push",
        timeout_s=30,
    ),
)

EVENT_BUS_NAME = "loyalty"
EVENT_SOURCE = "loyalty"


def function(name: str) -> FunctionDefinition:
    return next(f for f in FUNCTIONS if f.name == name)


def queue(logical_id: str) -> QueueDefinition:
    return next(q for q in QUEUES if q.logical_id == logical_id)
