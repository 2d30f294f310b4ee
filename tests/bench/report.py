"""The figures as printed tables and as `.local/bench.json` (which the README quotes)."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from typing import Any

from tests.bench.calls import Operation
from tests.bench.cold import TARGET_RATIO, ColdResult
from tests.bench.environment import OUTPUT
from tests.bench.imports import Imported
from tests.bench.jobs import DUE, REMINDED, REMINDER_MEMBERS, REMINDER_WINDOWS, SWEEP_TARGET, JobsResult


def _verdict(met: bool | None) -> str:
    return "" if met is None else ("target met" if met else "MISSED")


def _row(cells: list[Any], widths: list[int]) -> str:
    """Left-aligned text, right-aligned numbers (negative width)."""
    text = "  ".join(f"{cell!s:>{-w}}" if w < 0 else f"{cell!s:<{w}}" for cell, w in zip(cells, widths, strict=True))
    return text.rstrip()


def print_calls(operations: list[Operation]) -> None:
    print("\n1. DynamoDB calls per operation (in-process moto, config cache warm)")
    widths = [17, 48, -8, -7, 32, 10]
    print(_row(["operation", "calls", "tx items", "changed", "target", ""], widths))
    for op in operations:
        tx = op.transact_items if op.transact_items is not None else "-"
        print(_row([op.name, op.summary(), tx, op.changed, op.target or "-", _verdict(op.met)], widths))
    replay = next(op for op in operations if op.name == "replayed earn")
    print(f"   replayed earn: {'wrote nothing' if replay.changed == 0 else f'changed {replay.changed} items'}")
    print("\n   Estimated write units per transaction (method: tests/bench/capacity.py docstring)")
    widths = [17, 48, -6, -9, 24]
    print("   " + _row(["operation", "item written", "bytes", "table WCU", "index WCU"], widths))
    for op in operations:
        if op.capacity is None:
            continue
        for number, item in enumerate(op.capacity["items"]):
            index = ", ".join(f"{name} {n}" for name, n in item["index_wcu"].items()) or "-"
            cells = [op.name if number == 0 else "", f"{item['action']} {item['sk']}", item["bytes"]]
            print("   " + _row([*cells, item["table_wcu"], index], widths))
        total = op.capacity
        line = f"table {total['table_wcu']} + index {total['index_wcu']} = {total['total_wcu']} WCU"
        print("   " + _row(["", "total", "", "", line], widths))


def _print_imports(title: str, entries: list[Imported]) -> None:
    print(f"\n   {title}")
    print("   " + _row(["cumul ms", "self ms", "module"], [-8, -7, 60]))
    for entry in entries:
        print("   " + _row([entry.cumulative_ms, entry.self_ms, "  " * entry.depth + entry.module], [-8, -7, 60]))


def print_cold(result: ColdResult) -> None:
    print(
        f"\n2. Cold path per function (fresh process against a moto server; median of {result.rounds}, "
        "interleaved; wall = whole child process as measured by the parent)"
    )
    widths = [11, -7, -9, -5, -6, -5, -5, -5, 12, -14]
    header = ["function", "wall ms", "min-max", "start", "import", "call", "exit", "ratio", f"(<= {TARGET_RATIO})"]
    print(_row([*header, "ratio w/o exit"], widths))
    for name, figure in result.cases.items():
        cells = [name, f"{figure['wall_ms']:.0f}", f"{figure['min_ms']:.0f}-{figure['max_ms']:.0f}"]
        cells += [f"{figure[k]:.0f}" for k in ("start_ms", "import_ms", "call_ms", "exit_ms")]
        cells += [f"{figure.get('ratio', 1):.2f}", _verdict(figure.get("target_met"))]
        print(_row([*cells, f"{figure.get('ratio_without_exit', 1):.2f}"], widths))
    print(
        "   start: until the child's first line; import: the handler module (baseline: boto3 + client);\n"
        "   call: serving the event, lazy imports included; exit: interpreter shutdown, which Lambda never pays"
    )
    _print_imports(
        "earn: top 10 cumulative imports of `import functions.earn.handler` (median of 3)", result.earn_imports
    )
    _print_imports("earn: top-level imports of one whole cold start (import + first call)", result.earn_cold_path)


def _scan(scanned: bool) -> str:
    return "SCAN USED" if scanned else "no Scan"


def _per(items: int, units: int) -> str:
    return f"{items / units:.2f}" if units else "-"


def print_jobs(result: JobsResult) -> None:
    print("\n3. Scheduled jobs: items read per unit of work (in-process moto, config cache warm)")
    print(f"   a) expiry sweep: {DUE} members hold a lot that expired before now, all others one that expires later")
    widths = [-7, -7, -10, -11, 10, -7, 40, 9]
    header = ["members", "expired", "items read", "per expired", f"(<= {SWEEP_TARGET})", "queries", "calls", ""]
    print("   " + _row(header, widths))
    for sweep in result.sweeps:
        cells = [sweep.members, sweep.expired, sweep.reads.items, _per(sweep.reads.items, sweep.expired)]
        cells += [_verdict(sweep.met), sweep.reads.calls.get("Query", 0), sweep.reads.summary()]
        print("   " + _row([*cells, _scan(sweep.reads.scanned)], widths))
    for sweep in result.sweeps:
        if sweep.expired != sweep.due:
            print(f"   {sweep.members} members: {sweep.expired} lots expired, {sweep.due} were due: WRONG")
    lots = ", ".join(f"{REMINDED} with a lot expiring in {days} days" for days in REMINDER_WINDOWS)
    print(f"\n   b) reminders, one run a day: {REMINDER_MEMBERS} members who agreed to emails; {lots}")
    widths = [10, -5, -10, -12, -7, 44, 9]
    print("   " + _row(["run on", "sent", "items read", "per reminder", "queries", "calls", ""], widths))
    for run in result.reminder_runs:
        cells = [run.now.date(), run.sent, run.reads.items, _per(run.reads.items, run.sent)]
        cells += [run.reads.calls.get("Query", 0), run.reads.summary(), _scan(run.reads.scanned)]
        print("   " + _row(cells, widths))
    sent = sum(run.sent for run in result.reminder_runs)
    read = sum(run.reads.items for run in result.reminder_runs)
    print("   " + _row(["all runs", sent, read, _per(read, sent)], widths[:4]))
    twice = f"SENT TWICE: {result.sent_twice} member-windows" if result.sent_twice else "none sent twice"
    markers = f"{result.markers} for {result.reminded_members} members"
    print(f"   REMINDER# items in the members' partitions after the runs: {markers}, {twice}")


def write_json(operations: list[Operation], cold: ColdResult, jobs: JobsResult, notes: list[str]) -> None:
    figures = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()},
        "notes": notes,
        "dynamodb_calls": [op.to_json() for op in operations],
        "cold_path": {
            "runs_per_case": cold.rounds,
            "target_ratio": TARGET_RATIO,
            "functions": cold.cases,
            "earn_imports": [entry.to_json() for entry in cold.earn_imports],
            "earn_cold_path_imports": [entry.to_json() for entry in cold.earn_cold_path],
        },
        "scheduled_jobs": jobs.to_json(),
    }
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
