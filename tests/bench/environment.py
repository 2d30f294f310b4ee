"""Where the benchmark runs: paths, the dummy AWS settings, compiled bytecode and the children's environment."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from infra.definitions import EVENT_BUS_NAME, TABLE
from infra.local.emulator import aws_environment

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
OUTPUT = ROOT / ".local" / "bench.json"
# Packages every cold start imports: without their .pyc a child would compile them on each run
# (PYTHONDONTWRITEBYTECODE stops it from saving the result) and the figures would measure the compiler.
HOT_PACKAGES = ("boto3", "botocore", "aws_lambda_powertools", "pydantic", "urllib3")


def use_test_settings() -> None:
    """Dummy credentials, a fixed region and Powertools' tracer off: the settings every test tier uses."""
    importlib.import_module("tests.conftest")  # sets them in os.environ when imported


def ensure_bytecode() -> list[str]:
    """Compile the project (always: cheap) and site-packages (only when it holds no bytecode yet)."""
    notes = []
    site = Path(sysconfig.get_paths()["purelib"])
    if not all((site / package / "__pycache__").is_dir() for package in HOT_PACKAGES):
        # Once per environment (~1 min on 2 cores); -qq: a few vendored test files do not compile, as expected.
        subprocess.run([sys.executable, "-m", "compileall", "-qq", "-j", "0", str(site)], check=False)
        notes.append(f"compiled bytecode for {site}")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "shared", "functions"], cwd=ROOT, check=True)
    return notes


def child_environment(endpoint: str) -> dict[str, str]:
    """What a Lambda function sees, pointed at the emulator: nothing else from AWS_* leaks in."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(aws_environment(endpoint, REGION))
    env.update(
        {
            "LOYALTY_TABLE": TABLE.logical_id,
            "LOYALTY_EVENT_BUS": EVENT_BUS_NAME,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    return env
