"""The AWS emulator: a moto server in this process, made atomic the way DynamoDB is."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from infra.local.serialise import serialise_dynamodb

ACCOUNT_ID = "123456789012"  # moto's default account: ARNs the emulator makes carry it
DUMMY_ACCESS_KEY = "local"
DUMMY_SECRET_KEY = "local"

# Variables that would send boto3 elsewhere or sign with someone's real credentials.
_CONFLICTING_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE")


@dataclass
class Emulator:
    """A running moto server bound to loopback."""

    server: object  # moto.server.ThreadedMotoServer (imported lazily: moto is slow to import)
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.stop()  # type: ignore[attr-defined]


def start_emulator(port: int = 0, host: str = "127.0.0.1") -> Emulator:
    """Start moto in a thread on `host:port` (0 picks a free port) after serialising DynamoDB.

    In-process on purpose: the lock of `serialise_dynamodb` only protects a backend in this
    interpreter, and every function reaches the backend through this one server.
    """
    serialise_dynamodb()
    from moto.server import ThreadedMotoServer

    # werkzeug logs one line per request; the pollers' long polls would flood the terminal.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return Emulator(server=server, host=bound_host, port=bound_port)


def aws_environment(endpoint: str, region: str) -> dict[str, str]:
    """What boto3 needs to talk to the emulator: endpoint, region and dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
        # boto3 otherwise derives account-based DynamoDB endpoints (FACTS.md); harmless with an endpoint URL.
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }


def apply_environment(env: Mapping[str, str]) -> None:
    """Set `env` in os.environ and drop variables that would override it."""
    for name in list(os.environ):
        # A service-specific endpoint (AWS_ENDPOINT_URL_DYNAMODB, ...) beats AWS_ENDPOINT_URL in boto3.
        if name in _CONFLICTING_ENV or name.startswith("AWS_ENDPOINT_URL_"):
            del os.environ[name]
    os.environ.update(env)
