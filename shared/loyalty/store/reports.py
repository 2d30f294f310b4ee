"""Reads and writes of the report aggregates (mixed into LoyaltyStore)."""

from __future__ import annotations


class ReportStoreMixin:
    """Mixed into LoyaltyStore: it supplies `_query`, `_query_all`, `_transact`, `_get` and `_put`."""
