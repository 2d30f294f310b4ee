"""Bounded optimistic retries for writes that lose a race on one member."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator

from loyalty.errors import Contention, LoyaltyError, Unavailable

MAX_ATTEMPTS = 25


def _contention() -> LoyaltyError:
    return Contention("too many concurrent changes to this member; retry with the same id", retry_after=1)


def busy() -> LoyaltyError:
    """For writes that only DynamoDB's own transaction conflicts can make retry (no read to redo)."""
    return Unavailable("the ledger is busy; nothing was written, retry shortly", retry_after=1)


def attempts(limit: int = MAX_ATTEMPTS, spent: Callable[[], LoyaltyError] = _contention) -> Iterator[int]:
    """Yield attempt numbers with jittered backoff between them; raise `spent()` (409 `conflict` by default) when spent."""
    for attempt in range(limit):
        if attempt:
            time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))
        yield attempt
    raise spent()
