"""`python -m infra.local`: run the whole platform on this machine until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from infra.local.demo import curl_examples
from infra.local.runner import LocalStack
from infra.local.settings import LocalSettings

log = logging.getLogger("infra.local")


def parse_settings(argv: list[str] | None = None) -> LocalSettings:
    """Flags override the LOYALTY_* environment variables, which override the defaults."""
    defaults = LocalSettings.from_environment()
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__)
    parser.add_argument("--api-port", type=int, help="HTTP API port (LOYALTY_API_PORT, default 3000; 0 = any)")
    parser.add_argument("--aws-port", type=int, help="emulator port (LOYALTY_AWS_PORT, default any)")
    parser.add_argument(
        "--state", type=Path, help="keep the table in this file across clean stops (LOYALTY_STATE_FILE)"
    )
    parser.add_argument("--no-seed", action="store_true", help="skip the demo program (LOYALTY_SEED=0)")
    parser.add_argument(
        "--no-schedules", action="store_true", help="do not fire the cron schedules (LOYALTY_SCHEDULES=0)"
    )
    parser.add_argument("--handlers", help="module or .py file whose attributes replace functions by name")
    args = parser.parse_args(argv)
    overrides = {
        "api_port": args.api_port,
        "aws_port": args.aws_port,
        "state_file": args.state,
        "handlers_module": args.handlers,
        "seed": False if args.no_seed else None,
        "schedules": False if args.no_schedules else None,
    }
    return dataclasses.replace(defaults, **{k: v for k, v in overrides.items() if v is not None})


def banner(stack: LocalStack) -> str:
    assert stack.resources is not None and stack.emulator is not None
    resources = stack.resources
    queues = ", ".join(sorted(resources.queues)) + " (each with a <name>DLQ)"
    strict = stack.settings.auth_mode == "aws"
    auth = "strict: iam routes need X-Local-Iam: signed" if strict else "no Authorization header = an IAM-signed call"
    lines = [
        "",
        "Loyalty engine, local stack",
        f"  API              {stack.api_url}   (openapi: {stack.api_url}/v1/openapi.json)",
        f"  AWS emulator     {stack.emulator.endpoint}   (aws --endpoint-url / boto3 endpoint_url;"
        f" region {stack.settings.region}, any credentials)",
        f"  table            {resources.table_name}",
        f"  queues           {queues}",
        f"  event bus        {resources.event_bus_name}",
        "  local routes     POST /_local/tokens, POST /_local/jobs/{job}, GET /_local/events,"
        " GET /_local/notifications",
        f"  auth             {auth}",
    ]
    if stack.settings.state_file:
        lines.append(f"  state file       {stack.settings.state_file} ({stack.restored_items} items restored)")
    lines += ["", "Try:", *(f"  {line}" for line in curl_examples(stack.api_url)), "", "Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def _configure_logging() -> None:
    # Our own lines go to stderr; the functions' Powertools JSON goes to stdout untouched.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(os.environ.get("LOYALTY_LOCAL_LOG_LEVEL", "INFO").upper())
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    _configure_logging()
    settings = parse_settings(argv)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            os._exit(1)  # a second Ctrl-C: stop now, whatever is left
        log.info("%s: stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    stack = LocalStack(settings)
    try:
        stack.start()
        if settings.seed:
            stack.seed()
        print(banner(stack), flush=True)
        while not stopping.wait(0.5):
            pass
    except OSError as error:  # e.g. the API port is taken
        log.error("cannot start: %s", error)
        return 1
    finally:
        stack.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
