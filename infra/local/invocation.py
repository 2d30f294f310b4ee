"""Find a function's handler by its definition and call it the way Lambda does."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from infra.definitions import FUNCTIONS, FunctionDefinition
from infra.local.emulator import ACCOUNT_ID

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_s - elapsed) * 1000))


def _load_override(spec: str) -> ModuleType:
    """A dotted module name or a path to a .py file (tests inject fakes this way)."""
    if spec.endswith(".py"):
        path = Path(spec).resolve()
        module_spec = importlib.util.spec_from_file_location(f"loyalty_local_override_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load handlers from {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


class FunctionRegistry:
    """Imports handlers lazily (they may not exist yet) and invokes them one at a time.

    One invocation at a time across all functions, as if each had its own container:
    Powertools keeps the current event on a class attribute shared by every resolver in a
    process (BaseRouter.current_event), so two handlers running at once in one interpreter
    would read each other's requests.
    """

    def __init__(self, region: str, override: str | None = None) -> None:
        self._region = region
        self._override_spec = override
        self._override: ModuleType | None = None
        self._handlers: dict[str, Handler] = {}
        self._import_lock = threading.Lock()
        self._invoke_lock = threading.RLock()

    @staticmethod
    def definition(name: str) -> FunctionDefinition:
        for definition in FUNCTIONS:
            if definition.name == name:
                return definition
        raise KeyError(f"no function named {name!r} in infra/definitions.py")

    def handler(self, name: str) -> Handler:
        with self._import_lock:
            if name not in self._handlers:
                self._handlers[name] = self._import(name)
            return self._handlers[name]

    def _import(self, name: str) -> Handler:
        if self._override_spec:
            if self._override is None:
                self._override = _load_override(self._override_spec)
            fake = getattr(self._override, name, None)
            if fake is not None:
                return fake
        module_name, _, attribute = self.definition(name).handler.rpartition(".")
        return getattr(importlib.import_module(module_name), attribute)

    def context(self, name: str) -> LambdaContext:
        definition = self.definition(name)
        return LambdaContext(
            function_name=name,
            memory_limit_in_mb=definition.memory_mb,
            invoked_function_arn=f"arn:aws:lambda:{self._region}:{ACCOUNT_ID}:function:{name}",
            timeout_s=definition.timeout_s,
        )

    def invoke(self, name: str, event: Any) -> Any:
        """Call function `name` with `event`; exceptions propagate to the caller (gateway, poller)."""
        handler = self.handler(name)
        context = self.context(name)
        with self._invoke_lock:
            started = time.monotonic()
            try:
                return handler(event, context)
            finally:
                elapsed = time.monotonic() - started
                if elapsed > context.timeout_s:
                    # Lambda would have killed it; locally we only say so.
                    log.warning("%s ran %.1f s, longer than its %d s timeout", name, elapsed, context.timeout_s)
