"""How to run the local stack: flags and LOYALTY_* environment variables (cheap to import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

AuthMode = Literal["local", "aws"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    return default if value is None else value.strip().lower() not in ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class LocalSettings:
    """How to run the stack; every field has an environment variable (see from_environment)."""

    api_port: int = 3000
    aws_port: int = 0
    region: str = "us-east-1"
    seed: bool = True
    schedules: bool = True
    auth_mode: AuthMode = "local"
    state_file: Path | None = None
    local_dir: Path = field(default_factory=lambda: REPO_ROOT / ".local")
    handlers_module: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> LocalSettings:
        auth = env.get("LOYALTY_LOCAL_AUTH", "local")
        if auth not in ("local", "aws"):
            raise ValueError(f"LOYALTY_LOCAL_AUTH must be local or aws, not {auth!r}")
        state = env.get("LOYALTY_STATE_FILE")
        return cls(
            api_port=int(env.get("LOYALTY_API_PORT", "3000")),
            aws_port=int(env.get("LOYALTY_AWS_PORT", "0")),
            region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
            seed=_flag(env, "LOYALTY_SEED", True),
            schedules=_flag(env, "LOYALTY_SCHEDULES", True),
            auth_mode="aws" if auth == "aws" else "local",
            state_file=Path(state) if state else None,
            local_dir=Path(env["LOYALTY_LOCAL_DIR"]) if env.get("LOYALTY_LOCAL_DIR") else REPO_ROOT / ".local",
            handlers_module=env.get("LOYALTY_LOCAL_HANDLERS_MODULE") or None,
        )
