"""CDK entry point: `cdk synth` / `cdk deploy` run `python -m infra.app` (see cdk.json).

Context values (`-c name=value`):
  stage               deployment name, part of every resource name (default: dev)
  alarm_email         address subscribed to the alarm topic (optional)
  crm_webhook_url     HTTPS endpoint that receives every loyalty event (optional)
  crm_webhook_secret  Secrets Manager secret holding the CRM's token (default: loyalty/<stage>/crm-webhook)
  pos_api_keys        true: point-of-sale routes also require an API key (default: false)
  email_from          the SES-verified address reminders are sent from (default: noreply@example.com)
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra import bundle
from infra.stack import LoyaltyStack, Settings

STAGE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
# A bare address (no display name): it names the SES identity and the ses:FromAddress condition.
EMAIL_PATTERN = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


def settings_from_context(app: App) -> Settings:
    def value(name: str) -> str | None:
        raw = app.node.try_get_context(name)
        return None if raw in (None, "") else str(raw)

    stage = value("stage") or "dev"
    if not STAGE_PATTERN.match(stage):
        raise ValueError(f"stage {stage!r}: use 1-16 lowercase letters, digits or hyphens, starting with a letter")
    crm_webhook_url = value("crm_webhook_url")
    if crm_webhook_url and not crm_webhook_url.startswith("https://"):
        raise ValueError("crm_webhook_url must be an https:// URL")
    email_from = value("email_from") or Settings.email_from
    if not EMAIL_PATTERN.match(email_from):
        raise ValueError(f"email_from {email_from!r}: use a bare address such as loyalty@example.com")
    return Settings(
        stage=stage,
        alarm_email=value("alarm_email"),
        crm_webhook_url=crm_webhook_url,
        crm_webhook_secret=value("crm_webhook_secret"),
        # `-c pos_api_keys=true` arrives as a string, cdk.json may hold a boolean.
        pos_api_keys=(value("pos_api_keys") or "false").lower() == "true",
        email_from=email_from,
    )


def create_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """The app with the stack and cdk-nag's AwsSolutions checks (findings fail the synth)."""
    app = App(context=dict(context) if context else None, outdir=outdir)
    settings = settings_from_context(app)
    stack = LoyaltyStack(
        app,
        f"Loyalty-{settings.stage}",
        settings=settings,
        # Unset without credentials: the template is then environment-agnostic and synth stays offline.
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
    )
    Tags.of(stack).add("application", "loyalty-engine")
    Tags.of(stack).add("stage", settings.stage)
    add_checks(app)
    return app


def add_checks(app: App) -> None:
    """cdk-nag 3 is a validation plugin: a finding without an acknowledgment fails the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def main() -> None:
    app = create_app()
    print(f"bundle: {bundle.describe(bundle.asset_sizes(zipped=False))}", file=sys.stderr)
    app.synth()


if __name__ == "__main__":
    main()
