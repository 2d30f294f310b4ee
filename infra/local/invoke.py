"""`python -m infra.local.invoke FN EVENT_FILE`: run one function in this process against the running stack.

Reads .local/stack.json (written by `python -m infra.local`), takes the same environment as
the stack's functions, calls the handler with the event and prints its result as JSON. The
stack's pollers carry on with whatever the function enqueued or wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from infra.definitions import FUNCTIONS
from infra.local.emulator import apply_environment
from infra.local.invocation import FunctionRegistry
from infra.local.settings import LocalSettings
from infra.local.state import read_stack_file


def main(argv: list[str] | None = None) -> int:
    names = [f.name for f in FUNCTIONS]
    parser = argparse.ArgumentParser(prog="python -m infra.local.invoke", description=__doc__)
    parser.add_argument("function", choices=names, metavar="FN", help=f"one of: {', '.join(names)}")
    parser.add_argument(
        "event",
        type=Path,
        metavar="EVENT_FILE",
        help="a JSON event, e.g. events/api_earn_post_order.json ('-' = stdin)",
    )
    parser.add_argument("--local-dir", type=Path, help="where stack.json is (LOYALTY_LOCAL_DIR, default .local)")
    args = parser.parse_args(argv)

    local_dir = args.local_dir or LocalSettings.from_environment().local_dir
    try:
        stack = read_stack_file(local_dir)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    event = json.load(sys.stdin) if str(args.event) == "-" else json.loads(args.event.read_text())

    apply_environment(stack["env"])  # before the handler's first import, as in the stack
    registry = FunctionRegistry(stack["region"], os.environ.get("LOYALTY_LOCAL_HANDLERS_MODULE"))
    result = registry.invoke(args.function, event)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
