"""DynamoDB plumbing: a lazily created client, value (de)serialisation, AWS -> domain errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loyalty.aws import aws_client
from loyalty.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


# Faults that leave nothing written and clear up on a retry: the caller gets 503.
TRANSIENT = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
}


def dynamodb_client() -> DynamoDBClient:
    client: DynamoDBClient = aws_client("dynamodb")
    return client


def to_attr(value: Any) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    if isinstance(value, float):
        value = Decimal(str(value))
    serialised: dict[str, Any] = TypeSerializer().serialize(_decimals(value))  # type: ignore[assignment]
    return serialised


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {key: to_attr(value) for key, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: _plain(deserializer.deserialize(value)) for key, value in item.items()}


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_decimals(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: integers become int again."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@contextmanager
def transient_faults_as_unavailable() -> Iterator[None]:
    """Throttling, timeouts and internal errors become a 503 the caller may retry."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    try:
        yield
    except ClientError as error:
        if error_code(error) in TRANSIENT:
            raise Unavailable("the ledger is busy; nothing was written, retry shortly", retry_after=1) from error
        raise
    except (ConnectionError, ReadTimeoutError) as error:
        raise Unavailable(
            "the ledger did not answer in time; retrying with the same id is safe", retry_after=1
        ) from error
