"""Figure 6: items read per summary report request, against the number of members (target: bounded
by the report shards' day and totals items, whatever the number of members).

Members are written straight into the table (seeding.write_members: an enrollment and one earn each,
spread over the past year); the table's stream is then read as Lambda reads it (batches of 100) and fed
to the real reporter, whose writes are counted. The summary is asked for through the real handler and
what it reads is counted on the store's client (the items each Query and GetItem returned).
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3

from infra.definitions import TABLE
from loyalty.store.keys import REPORT_SHARDS
from tests.bench.calls import NOW, in_process
from tests.bench.environment import OUTPUT, REGION
from tests.bench.jobs import ReadLog, Reads
from tests.bench.seeding import PROGRAM_ID, write_members
from tests.helpers import Api, context, handler

MEMBER_COUNTS = (1_000, 3_000)  # moto serialises the stream slowly: 10,000 members took ~2.5 min
RANGES_DAYS = (30, 366)
STREAM_BATCH = 100  # the reporter's event source batch size


@dataclass
class Summary:
    days: int
    reads: Reads

    def to_json(self) -> dict[str, Any]:
        return {"days": self.days, **self.reads.to_json()}


@dataclass
class ReportRun:
    members: int
    records: int  # stream records fed to the reporter
    transactions: int  # the reporter's TransactWriteItems
    items_written: int  # markers and counter items in them
    summaries: list[Summary]

    def to_json(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "stream_records": self.records,
            "reporter_transactions": self.transactions,
            "reporter_items_written": self.items_written,
            "summaries": [s.to_json() for s in self.summaries],
        }


@dataclass
class ReportsResult:
    runs: list[ReportRun]

    def reads(self, days: int) -> list[int]:
        return [next(s.reads.items for s in run.summaries if s.days == days) for run in self.runs]

    @property
    def met(self) -> bool:
        """Never more than each report shard's day items + its totals, whatever the number of members
        (a quiet program has not written every shard every day, so it reads fewer)."""
        return all(max(self.reads(days)) <= REPORT_SHARDS * (days + 1) for days in RANGES_DAYS)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": "items read per summary bounded by shards x (days + 1), whatever the number of members",
            "target_met": self.met,
            "runs": [run.to_json() for run in self.runs],
        }


class WriteLog:
    """The reporter's transactions and how many items they wrote."""

    def __init__(self) -> None:
        self.transactions = 0
        self.items = 0

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        self.transactions += 1
        self.items += len(params["TransactItems"])


def _feed_stream(client: Any) -> int:
    """The table's stream so far (not the reporter's own writes) to the reporter, in order, in batches."""
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    arn = client.describe_table(TableName=TABLE.logical_id)["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    batches = []
    while page := streams.get_records(ShardIterator=iterator, Limit=STREAM_BATCH):
        if not page["Records"]:
            break
        iterator = page["NextShardIterator"]
        batches.append({"Records": [{**r, "eventSourceARN": arn} for r in page["Records"]]})
    for event in batches:
        with contextlib.redirect_stdout(io.StringIO()):  # the reporter's metrics (EMF lines) are not figures
            failures = handler("reporter")(event, context("reporter"))["batchItemFailures"]
        if failures:
            raise RuntimeError("the reporter failed a batch")
    return sum(len(event["Records"]) for event in batches)


def _run(members: int) -> ReportRun:
    with in_process() as (client, runtime):
        # Earned (and enrolled) n days ago for n in 0..364: every day of the past year has members.
        expiries = [NOW + timedelta(days=365 - n % 365, minutes=-n // 365) for n in range(members)]
        write_members(client, runtime.program(PROGRAM_ID), expiries)
        writes = WriteLog()
        client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", writes)
        records = _feed_stream(client)
        client.meta.events.unregister("before-parameter-build.dynamodb.TransactWriteItems", writes)
        summaries = []
        log = ReadLog()
        client.meta.events.register("after-call.dynamodb", log)
        try:
            for days in RANGES_DAYS:
                first = (NOW - timedelta(days=days - 1)).date().isoformat()
                answer = Api().get(
                    f"/v1/programs/{PROGRAM_ID}/reports/summary", query={"from": first, "to": NOW.date().isoformat()}
                )
                enrolled = sum(1 for n in range(members) if n % 365 < days)
                if answer.status != 200 or answer.body["enrollments"] != enrolled:
                    raise RuntimeError(f"unexpected summary: {answer.status} {str(answer.body)[:300]}")
                summaries.append(Summary(days, log.take()))
        finally:
            client.meta.events.unregister("after-call.dynamodb", log)
    return ReportRun(members, records, writes.transactions, writes.items, summaries)


def measure_reports() -> ReportsResult:
    return ReportsResult([_run(members) for members in MEMBER_COUNTS])


def print_reports(result: ReportsResult) -> None:
    print("\n6. Reports: items read per summary request (in-process moto, config cache warm)")
    print("   members  stream records  reporter tx  items written  summary      items read  calls")
    for run in result.runs:
        for n, summary in enumerate(run.summaries):
            head = f"   {run.members:>7}  {run.records:>14}  {run.transactions:>11}  {run.items_written:>13}"
            print(
                (head if n == 0 else " " * len(head))
                + f"  {summary.days:>3} days  {summary.reads.items:>10}  {summary.reads.summary()}"
            )
    verdict = "target met" if result.met else "MISSED"
    print(
        f"   items read are at most the {REPORT_SHARDS} report shards' day items + totals, whatever the members: "
        + verdict
    )


def add_to_json(result: ReportsResult) -> None:
    """The figure joins the others in .local/bench.json (written just before)."""
    figures = json.loads(OUTPUT.read_text(encoding="utf-8")) if OUTPUT.exists() else {}
    figures["reports"] = result.to_json()
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
