"""Summary reports of a program, read from the counters the reporter keeps (never from members or ledgers)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from aws_lambda_powertools.event_handler.api_gateway import Response, Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from loyalty.api.app import api_handler, json_response
from loyalty.api.runtime import runtime
from loyalty.services import reports

router = Router()
PROGRAM = "/v1/programs/<program_id>"
Day = Annotated[date | None, Query(description="YYYY-MM-DD, a day in the program's time zone")]
Format = Annotated[Literal["json", "csv"] | None, Query(description="csv: the daily series (or Accept: text/csv)")]


def _wants_csv(format: str | None) -> bool:
    if format is not None:
        return format == "csv"
    accept = router.current_event.headers.get("accept") or ""  # Powertools' headers ignore case
    return "text/csv" in accept.lower()


@router.get(PROGRAM + "/reports/summary", tags=["reports"])
def get_summary(
    program_id: str,
    from_: Annotated[
        date | None, Query(alias="from", description="first day, YYYY-MM-DD (default: 30 days to `to`)")
    ] = None,
    to: Day = None,
    top: Annotated[int, Query(ge=1, le=100)] = reports.TOP,
    format: Format = None,
) -> Response[str]:
    rt = runtime()
    config = rt.program(program_id)
    today = rt.now().astimezone(ZoneInfo(config.settings.timezone)).date()
    first, last = reports.period(from_, to, today)
    days = rt.store.report_days(program_id, first.isoformat(), last.isoformat())
    report = reports.summary(config, first, last, days, rt.store.report_totals(program_id), top)
    if _wants_csv(format):
        filename = f"{program_id}-summary-{first.isoformat()}-{last.isoformat()}.csv"
        return Response(
            200,
            "text/csv",
            reports.daily_csv(report),
            {"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return json_response(200, report)


lambda_handler = api_handler(router)
