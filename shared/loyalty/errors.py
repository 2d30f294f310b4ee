"""Domain errors: what went wrong in the product's words, with the HTTP status it maps to."""

from __future__ import annotations

from typing import Any, ClassVar


class LoyaltyError(Exception):
    """Base of every error a caller can be told about."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationFailed(LoyaltyError):
    code, status = "validation_error", 422


class NotFound(LoyaltyError):
    code, status = "not_found", 404


class MemberExists(LoyaltyError):
    code, status = "member_exists", 409


class IdempotencyConflict(LoyaltyError):
    code, status = "idempotency_conflict", 409


class InsufficientPoints(LoyaltyError):
    code, status = "insufficient_points", 422


class LimitReached(LoyaltyError):
    code, status = "limit_reached", 409


class OutOfStock(LoyaltyError):
    code, status = "out_of_stock", 409


class NotEligible(LoyaltyError):
    code, status = "not_eligible", 403


class RewardInactive(LoyaltyError):
    code, status = "reward_inactive", 409


class ExclusiveConflict(LoyaltyError):
    """Another code of the same exclusivity group was already used on this order."""

    code, status = "exclusive_conflict", 409


class InvalidState(LoyaltyError):
    """The thing exists but is in a state that forbids the change (a used code, a cancelled redemption)."""

    code, status = "invalid_state", 409


class Forbidden(LoyaltyError):
    code, status = "forbidden", 403


class Unauthorized(LoyaltyError):
    code, status = "unauthorized", 401


class Contention(LoyaltyError):
    """Too many concurrent changes to one member; safe to retry."""

    code, status = "conflict", 409


class Unavailable(LoyaltyError):
    """DynamoDB throttled or failed; nothing was written, retry later."""

    code, status = "service_unavailable", 503
