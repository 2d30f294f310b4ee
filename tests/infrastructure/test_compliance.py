"""Given the synthesized stack, cdk-nag and cfn-lint have nothing left to say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from cfnlint.api import lint_file

from infra.app import add_checks
from tests.infrastructure.helpers import Synthesized

pytestmark = pytest.mark.infrastructure


def test_synth_with_cdk_nag_leaves_no_findings(synthesized: Synthesized) -> None:
    # The fixture's synth would have raised on any unacknowledged finding; the report says so too.
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    assert [r for r in report["pluginReports"] if r.get("violations")] == []


def test_the_checks_fail_a_synth_with_a_finding(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    sqs.Queue(Stack(app, "Careless"), "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    add_checks(app)

    with pytest.raises(RuntimeError, match="AwsSolutions-SQS2"):
        app.synth()


def test_cfn_lint_finds_no_errors(synthesized: Synthesized) -> None:
    matches = lint_file(synthesized.template_path)
    # Warnings (CDK's explicit DependsOn gives W3005) are fine; errors are not.
    errors = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []
