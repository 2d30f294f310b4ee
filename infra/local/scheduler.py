"""What EventBridge Scheduler does, done locally: fire each schedule's function on its cron."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from infra.definitions import Schedule

log = logging.getLogger(__name__)


def isoformat_utc(instant: datetime) -> str:
    """2026-11-23T10:00:00Z, the form of Scheduler's <aws.scheduler.scheduled-time>."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def scheduler_event(job: str, scheduled_time: datetime, execution_id: str | None = None) -> dict[str, Any]:
    """The input our schedules pass to a job function (the CDK app fills in the context attributes)."""
    return {
        "job": job,
        "scheduled_time": isoformat_utc(scheduled_time),
        "execution_id": execution_id or str(uuid.uuid4()),
    }


def croniter_expression(cron: str) -> str:
    """EventBridge cron fields (min hour day-of-month month day-of-week year) in croniter's syntax.

    croniter takes `?` as `*` and a seventh field as the year (the sixth is seconds). EventBridge
    numbers days of the week 1-7 from Sunday, cron 0-6.
    """
    fields = cron.split()
    if len(fields) != 6:
        raise ValueError(f"expected 6 cron fields, got {cron!r}")
    minutes, hours, day_of_month, month, day_of_week, year = fields
    day_of_week = re.sub(r"(?<![#\d])(\d+)", lambda m: str(int(m.group(1)) - 1), day_of_week)
    return " ".join([minutes, hours, day_of_month, month, day_of_week, "0", year])


def next_fire(schedule: Schedule, after: datetime) -> datetime:
    """The first instant strictly after `after` (UTC) at which `schedule` fires."""
    return croniter(croniter_expression(schedule.cron), after.astimezone(UTC)).get_next(datetime)


class Scheduler:
    """Sleeps until the next schedule is due, then calls `fire(schedule, scheduled_time)`."""

    def __init__(
        self,
        schedules: Sequence[Schedule],
        fire: Callable[[Schedule, datetime], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._schedules = list(schedules)
        self._fire = fire
        self._clock = clock

    def run(self, stop: threading.Event) -> None:
        if not self._schedules:
            return
        due = {s.name: next_fire(s, self._clock()) for s in self._schedules}
        while not stop.is_set():
            soonest = min(due.values())
            # Wake at least once a minute so a changed wall clock (suspend, NTP) is noticed.
            if stop.wait(min(60.0, max(0.0, (soonest - self._clock()).total_seconds()))):
                return
            now = self._clock()
            for schedule in self._schedules:
                if due[schedule.name] <= now:
                    try:
                        self._fire(schedule, due[schedule.name])
                    except Exception:  # the next run still has to happen
                        log.exception("schedule %s failed", schedule.name)
                    due[schedule.name] = next_fire(schedule, now)
