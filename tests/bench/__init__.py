"""Benchmark of the loyalty engine: DynamoDB calls per operation and each function's cold path.

`make bench` runs `python -m tests.bench`: it prints the figures and writes them to
`.local/bench.json`. It measures and reports; it never fails because a figure is high.
"""
