"""Benchmark of the loyalty engine: DynamoDB calls per operation, each function's cold path and
the items the scheduled jobs read per unit of work.

`make bench` runs `python -m tests.bench`: it prints the figures and writes them to
`.local/bench.json`. It measures and reports; it never fails because a figure is high.
"""
