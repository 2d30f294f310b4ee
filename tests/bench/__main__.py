"""`make bench`: print the benchmark's figures and write them to .local/bench.json."""

from __future__ import annotations

import sys
import time

from tests.bench.environment import OUTPUT, ROOT, ensure_bytecode, use_test_settings


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each figure shows while the next runs
    begun = time.perf_counter()
    use_test_settings()
    notes = ensure_bytecode()
    # Imported after the bytecode exists, and after the settings: moto and boto3 read them at import.
    from tests.bench.calls import measure_calls
    from tests.bench.cold import measure_cold
    from tests.bench.hotkeys import measure_hotkeys
    from tests.bench.jobs import measure_jobs
    from tests.bench.load import measure_load
    from tests.bench.report import print_calls, print_cold, print_hotkeys, print_jobs, print_load, write_json
    from tests.bench.reports import add_to_json, measure_reports, print_reports

    for note in notes:
        print(note)
    operations = measure_calls()
    print_calls(operations)
    cold = measure_cold()
    print_cold(cold)
    jobs = measure_jobs()
    print_jobs(jobs)
    hot_keys = measure_hotkeys()
    print_hotkeys(hot_keys)
    load = measure_load()
    print_load(load)
    reports = measure_reports()
    print_reports(reports)
    write_json(operations, cold, jobs, notes, hot_keys=hot_keys, load=load)
    add_to_json(reports)
    print(f"\nfigures written to {OUTPUT.relative_to(ROOT)} in {time.perf_counter() - begun:.0f} s")


if __name__ == "__main__":
    main()
