"""Typed settings from environment variables, read once on first use (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

# The SES identity reminders are sent from when LOYALTY_EMAIL_FROM is unset (the local stack verifies it).
DEFAULT_EMAIL_FROM = "loyalty@example.com"


@dataclass(frozen=True)
class Settings:
    table_name: str
    event_bus_name: str
    expiry_queue_url: str
    notifications_queue_url: str
    config_cache_seconds: float
    email_from: str = DEFAULT_EMAIL_FROM

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
            email_from=env.get("LOYALTY_EMAIL_FROM") or DEFAULT_EMAIL_FROM,
        )


@cache
def settings() -> Settings:
    return Settings.from_environment()
