"""Typed settings from environment variables, read once on first use (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Settings:
    table_name: str
    event_bus_name: str
    expiry_queue_url: str
    notifications_queue_url: str
    config_cache_seconds: float

    @classmethod
    def from_environment(cls) -> Settings:
        env = os.environ
        return cls(
            table_name=env.get("LOYALTY_TABLE", "LoyaltyTable"),
            event_bus_name=env.get("LOYALTY_EVENT_BUS", "loyalty"),
            expiry_queue_url=env.get("LOYALTY_EXPIRY_QUEUE_URL", ""),
            notifications_queue_url=env.get("LOYALTY_NOTIFICATIONS_QUEUE_URL", ""),
            # A deactivated reward or rule must stop within 10 s everywhere: cache for at most 5.
            config_cache_seconds=min(float(env.get("LOYALTY_CONFIG_CACHE_SECONDS", "5")), 10.0),
        )


@cache
def settings() -> Settings:
    return Settings.from_environment()
