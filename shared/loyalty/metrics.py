"""One Powertools Metrics (CloudWatch EMF) per process, made on first use (it reads its settings from the environment)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

# The dashboard (infra/constructs/monitoring.py) charts this namespace with the `service` dimension.
NAMESPACE = "Loyalty"


@cache
def metrics() -> Metrics:
    from aws_lambda_powertools.metrics import Metrics

    return Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE)


def emit_counts(counts: Mapping[str, int]) -> None:
    """Publish counts now (one EMF line); zero counts are left out, nothing at all is no line."""
    from aws_lambda_powertools.metrics import MetricUnit

    figures = {name: value for name, value in counts.items() if value}
    if not figures:
        return
    recorder = metrics()
    for name, value in figures.items():
        recorder.add_metric(name=name, unit=MetricUnit.Count, value=value)
    recorder.flush_metrics()
