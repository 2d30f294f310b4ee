"""Request and response payloads of the HTTP API and the ingest queue (validated by pydantic)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from loyalty.domain.program import Identifier, Storable

# Ids that callers choose (orders, activities, refunds): printable, no whitespace, bounded.
SourceId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Money = Annotated[Decimal, Field(gt=0, le=Decimal("1e12"), max_digits=18, decimal_places=6, allow_inf_nan=False)]
Metadata = Annotated[dict[str, Any], Storable, Field(default_factory=dict, max_length=50)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Consents(_Request):
    marketing_email: bool = False
    marketing_sms: bool = False
    marketing_push: bool = False


class EnrollRequest(_Request):
    member_id: Identifier | None = None
    email: str = Field(min_length=3, max_length=320)
    phone: str | None = Field(None, min_length=3, max_length=32)
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    birthday: date | None = None
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    attributes: Metadata
    consents: Consents = Field(default_factory=Consents)


class PatchMemberRequest(_Request):
    email: str | None = Field(None, min_length=3, max_length=320)
    phone: str | None = Field(None, min_length=3, max_length=32)
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    birthday: date | None = None
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    attributes: Annotated[dict[str, Any], Storable] | None = Field(None, max_length=50)
    consents: Consents | None = None


class OrderLine(_Request):
    line_id: SourceId
    sku: str = Field(min_length=1, max_length=128)
    category: str | None = Field(None, max_length=128)
    quantity: int = Field(ge=1, le=100_000)
    unit_price: Annotated[Decimal, Field(ge=0, le=Decimal("1e12"), max_digits=18, decimal_places=6)]


class OrderRequest(_Request):
    order_id: SourceId
    amount: Money
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    occurred_at: AwareDatetime
    channel: str | None = Field(None, max_length=64)
    items: list[OrderLine] = Field(default_factory=list, max_length=500)
    metadata: Metadata


class ActivityRequest(_Request):
    activity_id: SourceId
    # `activity_type` (what earning rules match); `type` is still read from API callers, but not in an
    # ingest message, where `type` routes the message ("activity").
    activity_type: Identifier = Field(validation_alias=AliasChoices("activity_type", "type"))
    occurred_at: AwareDatetime
    metadata: Metadata


class RefundLine(_Request):
    line_id: SourceId
    quantity: int = Field(ge=1, le=100_000)


class RefundRequest(_Request):
    """Returned lines, or an amount, or neither: the rest of the order."""

    refund_id: SourceId
    lines: list[RefundLine] | None = Field(None, min_length=1, max_length=500)
    amount: Money | None = None
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")

    @model_validator(mode="after")
    def _lines_or_amount(self) -> RefundRequest:
        if self.lines is not None and self.amount is not None:
            raise ValueError("give either lines or an amount, not both")
        if self.lines is not None and len({line.line_id for line in self.lines}) != len(self.lines):
            raise ValueError("each line_id once")
        return self


class RedemptionRequest(_Request):
    reward_id: Identifier
    quantity: int = Field(1, ge=1, le=100)
    # cashback / pay-with-points: how many points to turn into money (the reward's cost when absent)
    points: int | None = Field(None, ge=1, le=10**9)


class ConsumeRequest(_Request):
    order_id: SourceId | None = None


class IngestMessage(BaseModel):
    """A message of the ingest queue: an order, activity or refund payload with its routing."""

    model_config = ConfigDict(extra="allow")

    type: Literal["order", "activity", "refund"]
    program_id: Identifier
    member_id: Identifier


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    error: ErrorDetail


class LotView(BaseModel):
    lot_id: str
    source: str
    points: int
    remaining: int
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None


class EarnResult(BaseModel):
    transaction_id: str
    points: int
    balance: int
    pending: int
    tier: str | None
    applied_rules: list[dict[str, Any]]
    lot: dict[str, Any]


class RedemptionResult(BaseModel):
    redemption_id: str
    transaction_id: str
    reward_id: str
    quantity: int
    points: int
    balance: int
    code: str
    qr_payload: str
    qr_svg: str
    value: dict[str, Any] | None
    status: str
    lots: list[dict[str, Any]]
