"""What a request needs at run time: the store, the config cache and the clock, made once and injectable."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from loyalty.config import settings
from loyalty.domain.program import ProgramConfig
from loyalty.services.programs import ProgramCache
from loyalty.store.store import LoyaltyStore


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Runtime:
    store: LoyaltyStore
    cache: ProgramCache
    clock: Callable[[], datetime] = field(default=_utc_now)

    def program(self, program_id: str) -> ProgramConfig:
        return self.cache.get(self.store, program_id)

    def now(self) -> datetime:
        return self.clock()


_runtime: Runtime | None = None
_lock = threading.Lock()


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                config = settings()
                _runtime = Runtime(LoyaltyStore(config.table_name), ProgramCache(config.config_cache_seconds))
    return _runtime


def use_runtime(replacement: Runtime | None) -> None:
    """Tests inject their own store, cache and clock here (None: build from the environment again)."""
    global _runtime
    _runtime = replacement
