"""The figures as printed tables and as `.local/bench.json` (which the README quotes)."""

from __future__ import annotations

import json
import os
import platform
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from tests.bench.calls import Operation
from tests.bench.cold import TARGET_RATIO, ColdResult
from tests.bench.environment import OUTPUT
from tests.bench.hotkeys import HotKeysResult, KeyLoad, design_fix
from tests.bench.imports import Imported
from tests.bench.jobs import DUE, REMINDED, REMINDER_MEMBERS, REMINDER_WINDOWS, SWEEP_TARGET, JobsResult
from tests.bench.load import LoadResult, percentile


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


def _print_keys(title: str, loads: list[KeyLoad]) -> None:
    from tests.bench import hotkeys

    print(f"   {title}")
    widths = [36, -6, -6, -6, 8, 11, 30]
    print(
        "   "
        + _row(["partition key", "peak/s", "mean/s", "~WCU/s", "", f"(< {hotkeys.TARGET}/s)", "by source"], widths)
    )
    for load in loads:
        cap = "OVER CAP" if load.wcu > hotkeys.PARTITION_WCU else ""
        by_operation: Counter[str] = Counter()
        for name, n in load.sources.items():
            by_operation[name.split()[0]] += n
        sources = ", ".join(f"{name} {n}" for name, n in by_operation.most_common())
        print(
            "   "
            + _row(
                [load.key, load.peak, f"{load.mean:.0f}", f"{load.wcu:.0f}", cap, _verdict(load.met), sources], widths
            )
        )


def print_hotkeys(result: HotKeysResult) -> None:
    from tests.bench import hotkeys

    scenario = result.to_json()["scenario"]
    capped = [reward for reward in result.rewards if reward.counter_shards]
    print(
        f"\n4. Hot keys: writes per partition key value, simulated in memory (no AWS): {result.seconds} s at "
        f"{hotkeys.EARNS_PER_S:,} earns/s,\n   {hotkeys.REDEMPTIONS_PER_S:,} redemptions/s and "
        f"{hotkeys.ENROLLMENTS_PER_S:,} enrollments/s; {hotkeys.MEMBERS:,} members drawn Zipf-like (exponent "
        f"{hotkeys.ZIPF_EXPONENT}: before the caps\n   the top 1,000 members make "
        f"{scenario['share_of_activity_of_top_1000_members']:.0%} of the draws), at most "
        f"{hotkeys.MAX_EARNS_PER_MEMBER_S} earns and {hotkeys.MAX_REDEMPTIONS_PER_MEMBER_S} redemptions per "
        f"member-second;\n   {hotkeys.REWARDS} rewards, the top one {hotkeys.TOP_REWARD_SHARE:.0%}, {len(capped)} "
        "capped (stock, total or budget: they write a counter); rolling 365-day expiry,\n   "
        f"{scenario['expiry_shards']} expiry shards"
    )
    names = ", ".join(name for name, _ in result.checks)
    checked = f"writes from the store's key functions, checked against its transactions for: {names}"
    print(textwrap.fill(checked, 115, initial_indent="   ", subsequent_indent="   "))
    for name, problem in result.checks:
        if problem:
            print(f"   DIFFERS FROM THE STORE: {name}: {problem}")
    order = ("table", "LEDGER", "OPEN", "GSI1")
    totals = ", ".join(f"{space} {result.writes_per_s.get(space, 0):,}" for space in order)
    print(f"   all writes/s: {totals} (table: items; LEDGER, OPEN: local index entries)")
    _print_keys("a) table partitions (items + local index entries in the same partition), the 10 busiest", result.table)
    if result.busiest_member is not None:
        member = result.busiest_member
        print(f"   busiest member partition: {member.key}, {member.peak} writes in its busiest second")
    _print_keys("b) GSI1 partitions, the 10 busiest", result.gsi1)
    print("   c) reward counters (capped rewards only)")
    widths = [10, -6, -6, -14, -7]
    print("   " + _row(["reward", "share", "shards", "partition keys", "peak/s"], widths))
    for reward in capped:
        cells = [reward.reward_id, f"{reward.share:.1%}", reward.counter_shards, reward.counter_keys, reward.peak]
        print("   " + _row(cells, widths))
    reporter = result.reporter
    print(
        f"   d) reporter: {reporter['records_per_s']:,} stream records/s in batches of {reporter['batch_size']} -> "
        f"{reporter['transactions_per_s']} transactions/s,\n      each updating the DAY and TOTALS counter items "
        f"({reporter['counter_item_wcu_per_write']} WCU per transactional write) and one marker per record;\n"
        "      a member's first change in the simulation counts as its first activity of the day (active_members)"
    )
    print(
        "   ~WCU/s: 2 per transactional item write (items under 1 KB, figure 1; report counters sized from their "
        f"attributes),\n   1 per index entry; OVER CAP: above a partition's {hotkeys.PARTITION_WCU:,} WCU/s"
    )
    for load in result.missed:
        print(f"   MISSED {load.space} {load.key}: {load.peak} writes/s (target < {hotkeys.TARGET});")
        print(textwrap.fill(design_fix(load.key), 115, initial_indent="      fix: ", subsequent_indent="      "))
    over_cap = [load for load in [*result.table, *result.gsi1] if load.met and load.wcu > hotkeys.PARTITION_WCU]
    for load in over_cap:
        print(f"   OVER CAP {load.space} {load.key}: {load.peak} writes/s but ~{load.wcu:.0f} WCU/s;")
        print(textwrap.fill(design_fix(load.key), 115, initial_indent="      fix: ", subsequent_indent="      "))


def print_load(result: LoadResult) -> None:
    from tests.bench import load

    print(
        f"\n5. Load on the local stack: {result.threads} client threads, {result.duration_s:.0f} s of mixed traffic "
        f"(20% enroll, 60% earn, 20% redeem;\n   {load.REPLAY_SHARE:.0%} of earns and redemptions replayed) after "
        f"setting up a program and {load.MEMBERS} members ({result.setup_s:.0f} s)"
    )
    print(
        "   The local stack runs one handler at a time (Powertools keeps the current request in a class attribute):\n"
        "   the figures are for regression on this machine, not the platform's capacity."
    )
    print(f"   throughput: {result.throughput:.1f} requests/s ({len(result.calls)} requests)")
    widths = [13, -8, -7, -7, -5, -7, -6]
    print("   " + _row(["operation", "requests", "p50 ms", "p99 ms", "ok", "refused", "errors"], widths))
    for name, calls in result.by_operation().items():
        latencies = sorted(call.ms for call in calls)
        outcomes = [call.outcome for call in calls]
        cells = [name, len(calls), f"{percentile(latencies, 50):.0f}", f"{percentile(latencies, 99):.0f}"]
        cells += [outcomes.count("ok"), outcomes.count("refused"), outcomes.count("error")]
        print("   " + _row(cells, widths))
    refusals = ", ".join(f"{status} x{n}" for status, n in sorted(result.refusals().items())) or "none"
    errors = ", ".join(f"{status} x{n}" for status, n in sorted(result.errors().items())) or "none"
    print(f"   expected refusals: {refusals}")
    print(f"   errors: {errors}")
    invariant = result.invariant
    if invariant.violations:
        print(f"   INVARIANT VIOLATED for {len(invariant.violations)} of {invariant.members} members:")
        for violation in invariant.violations[:10]:
            print(f"      {violation}")
    else:
        print(
            f"   invariant holds for {invariant.members} members ({invariant.entries} ledger entries): "
            "sum of ledger = balance + pending = sum of lots' remaining"
        )
    if invariant.enrolled != invariant.profiles:
        print(f"   ENROLLMENTS LOST: the API enrolled {invariant.enrolled}, the table holds {invariant.profiles}")
    print(f"   stack stopped (exit code {result.stack_exit})")


def write_json(
    operations: list[Operation],
    cold: ColdResult,
    jobs: JobsResult,
    notes: list[str],
    hot_keys: HotKeysResult | None = None,
    load: LoadResult | None = None,
) -> None:
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
    if hot_keys is not None:
        figures["hot_keys"] = hot_keys.to_json()
    if load is not None:
        figures["load_local_stack"] = load.to_json()
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
