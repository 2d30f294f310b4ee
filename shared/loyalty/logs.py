"""One Powertools Logger per process, made on first use (it reads its settings from the environment)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger


@cache
def logger() -> Logger:
    from aws_lambda_powertools.logging import Logger

    return Logger(service="loyalty")
