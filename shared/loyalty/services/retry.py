"""Bounded optimistic retries for writes that lose a race on one member."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from loyalty.errors import Contention

MAX_ATTEMPTS = 25


def attempts(limit: int = MAX_ATTEMPTS) -> Iterator[int]:
    """Yield attempt numbers with jittered backoff between them; raise `Contention` when spent."""
    for attempt in range(limit):
        if attempt:
            time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))
        yield attempt
    raise Contention("too many concurrent changes to this member; retry with the same id", retry_after=1)
