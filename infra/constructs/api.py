"""The REST API of definitions.ROUTES: IAM or Cognito auth per route, logs, throttling, WAF."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.definitions import ROUTES, Route

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Point-of-sale routes that may also require an API key (context pos_api_keys=true), on top of IAM.
POS_PATH_SUFFIXES = ("/codes/{code}/consume", "/orders")
# Stage limits sized from FACTS.md: ~56 earns/s on average for a 31M-member program, peaks 10x.
RATE_LIMIT_PER_SECOND = 1000
BURST_LIMIT = 2000
# Member self-service requests per 5 minutes from one IP before WAF blocks it (integrations are IAM-signed
# servers that may legitimately send far more, so they are left to stage throttling and usage plans).
MEMBER_REQUESTS_PER_IP = 1000


def is_pos_route(route: Route) -> bool:
    return route.path.endswith(POS_PATH_SUFFIXES)


class Api(Construct):
    """`rest_api`, its stage, and (with pos_api_keys) `api_key`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stage: str,
        functions: Mapping[str, lambda_.IFunction],
        user_pool: cognito.IUserPool,
        pos_api_keys: bool = False,
    ) -> None:
        super().__init__(scope, id)
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS, removal_policy=RemovalPolicy.DESTROY
        )
        self.rest_api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"loyalty-{stage}",
            description="Loyalty engine: admin, integration and member self-service routes",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Execution logging needs the account's API Gateway CloudWatch role.
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=stage,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                # Errors only, and never bodies: requests carry members' personal data.
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                tracing_enabled=True,
                throttling_rate_limit=RATE_LIMIT_PER_SECOND,
                throttling_burst_limit=BURST_LIMIT,
            ),
        )
        Validations.of(self.rest_api).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                reason="API Gateway's account-wide logging role: the AWS policy is the documented one for it "
                "and covers log groups API Gateway creates itself, whose names are not known here.",
            )
        )
        # Checks what a method declares before Lambda runs; bodies have no API Gateway models (the handlers'
        # pydantic models are the one schema), so this is where such models would be attached.
        validator = self.rest_api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        members = apigw.CognitoUserPoolsAuthorizer(self, "Members", cognito_user_pools=[user_pool])

        integrations: dict[str, apigw.LambdaIntegration] = {}
        for route in ROUTES:
            if route.function not in integrations:
                # The console's test button would need a second permission per method: not worth it.
                integrations[route.function] = apigw.LambdaIntegration(
                    functions[route.function], allow_test_invoke=False
                )
            method = self.rest_api.root.resource_for_path(route.path).add_method(
                route.method,
                integrations[route.function],
                authorization_type=apigw.AuthorizationType.IAM
                if route.auth == "iam"
                else apigw.AuthorizationType.COGNITO,
                authorizer=members if route.auth == "member" else None,
                request_validator=validator if route.method in BODY_METHODS else None,
                api_key_required=pos_api_keys and is_pos_route(route),
            )
            if route.auth == "iam":
                Validations.of(method).acknowledge(
                    Acknowledgment(
                        id="AwsSolutions-COG4",
                        reason="Admin and integration route: callers are servers that sign with IAM (SigV4), "
                        "which API Gateway verifies; Cognito is for members only.",
                    )
                )

        self.api_key: apigw.IApiKey | None = None
        if pos_api_keys:
            self.api_key = self.rest_api.add_api_key("PosKey", description="Point-of-sale terminals")
            plan = self.rest_api.add_usage_plan(
                "PosPlan",
                description="Point-of-sale routes (in addition to IAM)",
                throttle=apigw.ThrottleSettings(rate_limit=100, burst_limit=200),
                api_stages=[apigw.UsagePlanPerApiStage(api=self.rest_api, stage=self.rest_api.deployment_stage)],
            )
            plan.add_api_key(self.api_key)

        self._add_firewall(stage)

    def _add_firewall(self, stage: str) -> None:
        def managed(priority: int, name: str, overrides: tuple[str, ...] = ()) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS",
                        name=name,
                        rule_action_overrides=[
                            wafv2.CfnWebACL.RuleActionOverrideProperty(
                                name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                            )
                            for rule in overrides
                        ]
                        or None,
                    )
                ),
                visibility_config=_visibility(name),
            )

        member_rate = wafv2.CfnWebACL.RuleProperty(
            name="MemberRequestsPerIp",
            priority=2,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP",
                    limit=MEMBER_REQUESTS_PER_IP,
                    scope_down_statement=wafv2.CfnWebACL.StatementProperty(
                        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                            positional_constraint="CONTAINS",
                            search_string="/v1/me",
                            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
                        )
                    ),
                )
            ),
            visibility_config=_visibility("MemberRequestsPerIp"),
        )
        acl = wafv2.CfnWebACL(
            self,
            "Firewall",
            name=f"loyalty-{stage}",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(f"loyalty-{stage}"),
            rules=[
                # An order with many lines is larger than the common set's 8 KB body limit.
                managed(0, "AWSManagedRulesCommonRuleSet", overrides=("SizeRestrictions_BODY",)),
                managed(1, "AWSManagedRulesKnownBadInputsRuleSet"),
                member_rate,
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "FirewallAssociation",
            resource_arn=self.rest_api.deployment_stage.stage_arn,
            web_acl_arn=acl.attr_arn,
        )


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )
