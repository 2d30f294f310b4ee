"""Keeps the report counters from the table's stream: per program and day, and all time.

Each record is counted once however often Lambda delivers it: a batch's counters are written in
one transaction with a marker per counted record (see loyalty.services.reports). The same figures
go to CloudWatch as metrics (EMF) for the dashboard.
"""

from __future__ import annotations

from typing import Any

from loyalty.api.runtime import Runtime, runtime
from loyalty.errors import NotFound
from loyalty.logs import logger
from loyalty.metrics import emit_counts
from loyalty.services.reports import apply_batch, business_metrics


def _timezone(rt: Runtime, program_id: str) -> str:
    try:
        return rt.program(program_id).settings.timezone
    except NotFound:
        return "UTC"  # a program removed since: its records still count, on UTC days


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rt = runtime()
    records = event.get("Records", [])
    result = apply_batch(rt.store, records, lambda program_id: _timezone(rt, program_id))
    emit_counts(business_metrics(result.changes))
    summary = {
        "records": len(records),
        "applied": result.applied,
        "duplicates": result.duplicates,
        "ignored": result.ignored,
        "transactions": result.transactions,
    }
    if result.failed_sequence is not None:
        logger().error(
            "counting failed; the batch is retried from this record",
            extra={**summary, "sequence": result.failed_sequence},
            exc_info=result.error,
        )
        # Stream batches are ordered: report the first record not counted, Lambda retries from there.
        return {"batchItemFailures": [{"itemIdentifier": result.failed_sequence}]}
    logger().debug("batch counted", extra=summary)
    return {"batchItemFailures": []}
