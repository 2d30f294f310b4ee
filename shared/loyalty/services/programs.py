"""Program configuration: admin writes and the short-lived cache every function reads through."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from loyalty.domain.program import EarningRule, ProgramConfig, ProgramSettings
from loyalty.errors import NotFound
from loyalty.services.retry import attempts, busy
from loyalty.store import keys
from loyalty.store.store import Cancelled, LoyaltyStore


class ProgramCache:
    """Program config per process for `ttl_seconds`.

    A deactivated reward must stop within 10 s on every function, so the time to live is
    capped at 10 s (default 5); a function that writes config drops its own copy at once.
    """

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = min(ttl_seconds, 10.0)
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, ProgramConfig]] = {}
        self._lock = threading.Lock()

    def get(self, store: LoyaltyStore, program_id: str) -> ProgramConfig:
        key = (store.table_name, program_id)
        with self._lock:
            cached = self._entries.get(key)
        if cached and self._clock() - cached[0] < self.ttl_seconds:
            return cached[1]
        config = store.load_program(program_id)
        if config is None:
            raise NotFound("program not found", program_id=program_id)
        with self._lock:
            self._entries[key] = (self._clock(), config)
        return config

    def invalidate(self, store: LoyaltyStore, program_id: str) -> None:
        with self._lock:
            self._entries.pop((store.table_name, program_id), None)


def put_settings(store: LoyaltyStore, program_id: str, settings: ProgramSettings, now: datetime) -> bool:
    for _ in attempts(spent=busy):
        try:
            return store.put_program(program_id, settings.model_dump(mode="json"), now)
        except Cancelled as cancelled:
            if not cancelled.contended:
                raise
    raise AssertionError("unreachable")  # attempts() raises 503 when spent


# The parts of a program an admin writes one by one, and where each is stored.
PART_KEYS: dict[str, Callable[[str], str]] = {
    "tier": keys.tier_sk,
    "reward": keys.reward_sk,
    "segment": keys.segment_sk,
    "rule": keys.earning_rule_sk,
}


def put_part(
    store: LoyaltyStore,
    cache: ProgramCache,
    program_id: str,
    part: tuple[str, str],
    body: dict[str, Any],
    now: datetime,
) -> bool:
    """A tier, reward, segment or earning rule (`part` is its kind and id) of an existing program;
    the writer drops its cached copy at once, the others within the cache's time to live. True when
    it was created."""
    kind, part_id = part
    cache.get(store, program_id)  # the program must exist
    created = store.put_config(program_id, PART_KEYS[kind](part_id), body, now)
    cache.invalidate(store, program_id)
    return created


def segment_view(config: ProgramConfig, segment_id: str) -> dict[str, Any]:
    segment = config.segments.get(segment_id)
    if segment is None:
        raise NotFound("segment not found", segment_id=segment_id)
    return {"segment_id": segment_id, **segment.model_dump(mode="json")}


def rule_view(rule: EarningRule) -> dict[str, Any]:
    return rule.model_dump(mode="json", by_alias=True, exclude_none=True)


def earning_rule_view(config: ProgramConfig, rule_id: str) -> dict[str, Any]:
    rule = config.earning_rules.get(rule_id)
    if rule is None:
        raise NotFound("earning rule not found", rule_id=rule_id)
    return {"rule_id": rule_id, **rule_view(rule)}


def program_view(config: ProgramConfig) -> dict[str, Any]:
    return {
        "program_id": config.program_id,
        **config.settings.model_dump(mode="json"),
        "tiers": {tier_id: tier.model_dump(mode="json") for tier_id, tier in config.tiers_by_threshold()},
        "rewards": {reward_id: reward.model_dump(mode="json") for reward_id, reward in sorted(config.rewards.items())},
        "segments": {
            segment_id: segment.model_dump(mode="json") for segment_id, segment in sorted(config.segments.items())
        },
        "earning_rules": {rule_id: rule_view(rule) for rule_id, rule in sorted(config.earning_rules.items())},
    }
