"""Start the local stack (`python -m infra.local`) as a subprocess for e2e tests.

`local_stack` runs the real handlers without the demo seed and without cron schedules;
`start_local_stack` starts more stacks (fake handlers, strict auth, a state file) and stops
them all at the end of the session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


@dataclass
class RunningStack:
    """A local stack subprocess: where its API and emulator listen, and its log."""

    api: str
    aws_endpoint: str
    region: str
    info: dict[str, Any]
    process: subprocess.Popen[bytes]
    log_path: Path
    local_dir: Path
    returncode: int | None = field(default=None)

    def client(self, service: str) -> Any:
        """A boto3 client on the stack's emulator."""
        import boto3

        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.aws_endpoint,
            region_name=self.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def resource_url(self, queue: str) -> str:
        return str(self.info["resources"]["queues"][queue]["url"])

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not stop in time; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.returncode = self.process.returncode
        return self.returncode


def _wait_until_ready(process: subprocess.Popen[bytes], local_dir: Path, log_path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    stack_file = local_dir / "stack.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"local stack exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            info: dict[str, Any] = json.loads(stack_file.read_text())
            if info.get("pid") == process.pid and requests.get(f"{info['api_url']}/_local/health", timeout=2).ok:
                return info
        except (FileNotFoundError, ValueError, requests.RequestException):
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"local stack not ready in {START_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")


def launch_stack(workdir: Path, env: Mapping[str, str] | None = None, args: tuple[str, ...] = ()) -> RunningStack:
    """Start `python -m infra.local` on free ports (port 0; the stack reports them in stack.json)."""
    workdir.mkdir(parents=True, exist_ok=True)
    local_dir = workdir / "local"
    log_path = workdir / "stack.log"
    stack_env = {
        **os.environ,
        "LOYALTY_API_PORT": "0",
        "LOYALTY_AWS_PORT": "0",
        "LOYALTY_SEED": "0",
        "LOYALTY_SCHEDULES": "0",
        "LOYALTY_LOCAL_DIR": str(local_dir),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local", *args],
            cwd=REPO_ROOT,
            env=stack_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        info = _wait_until_ready(process, local_dir, log_path)
    except BaseException:
        if process.poll() is None:
            process.kill()
        raise
    return RunningStack(
        api=info["api_url"],
        aws_endpoint=info["aws_endpoint"],
        region=info["region"],
        info=info,
        process=process,
        log_path=log_path,
        local_dir=local_dir,
    )


@pytest.fixture(scope="session")
def start_local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningStack]]:
    """A factory: start_local_stack(env={...}, args=(...)) -> RunningStack, all stopped at the end."""
    started: list[RunningStack] = []

    def start(env: Mapping[str, str] | None = None, args: tuple[str, ...] = ()) -> RunningStack:
        stack = launch_stack(tmp_path_factory.mktemp("local-stack"), env, args)
        started.append(stack)
        return stack

    yield start
    unclean = [(str(s.log_path), code) for s in started if (code := s.stop()) != 0]
    if unclean:
        pytest.fail(f"local stacks did not stop cleanly (log, exit code): {unclean}")


@pytest.fixture(scope="session")
def local_stack(start_local_stack: Callable[..., RunningStack]) -> RunningStack:
    """The local stack with the real handlers, no demo seed and no cron schedules."""
    return start_local_stack()
