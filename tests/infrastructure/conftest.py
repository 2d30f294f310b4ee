"""One synthesis of the real app (real bundle, cdk-nag on) shared by every infrastructure test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.helpers import Synthesized

ROOT = Path(__file__).resolve().parents[2]

# Every optional feature on, so cdk-nag and cfn-lint see every resource the app can make.
CONTEXT = {
    "stage": "test",
    "alarm_email": "alarms@example.com",
    "crm_webhook_url": "https://crm.example.com/hooks/loyalty",
    "pos_api_keys": "true",
}


def cdk_json_context() -> dict[str, Any]:
    """The feature flags `cdk synth` passes, so the tests build the template the CLI builds."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from infra.app import create_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = create_app({**cdk_json_context(), **CONTEXT}, outdir=str(outdir))
    assembly = app.synth()  # raises when cdk-nag reports a finding nobody acknowledged
    (stack,) = assembly.stacks
    template_path = outdir / stack.template_file
    return Synthesized(template=json.loads(template_path.read_text()), template_path=template_path, outdir=outdir)
