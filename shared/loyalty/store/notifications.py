"""Reads and writes of notification delivery (mixed into LoyaltyStore)."""

from __future__ import annotations


class NotificationStoreMixin:
    """Mixed into LoyaltyStore: it supplies `_query`, `_transact`, `_get` and `_put`."""
