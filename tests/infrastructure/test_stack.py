"""Given the synthesized stack, the resources are what definitions.py and the issue ask for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.constructs.api import is_pos_route
from infra.constructs.common import pascal
from infra.definitions import FUNCTIONS, QUEUES, ROUTES, SCHEDULES, TABLE, function
from tests.infrastructure.helpers import Synthesized, dead_letter_queue_ids, function_ids, ref, route_methods

pytestmark = pytest.mark.infrastructure


def test_table_has_the_defined_keys_indexes_and_protections(synthesized: Synthesized) -> None:
    table = synthesized.resources[TABLE.logical_id]
    props = table["Properties"]

    assert props["KeySchema"] == [
        {"AttributeName": TABLE.partition_key, "KeyType": "HASH"},
        {"AttributeName": TABLE.sort_key, "KeyType": "RANGE"},
    ]
    assert all(a["AttributeType"] == "S" for a in props["AttributeDefinitions"])
    gsis = {g["IndexName"]: g for g in props["GlobalSecondaryIndexes"]}
    for index in TABLE.global_indexes:
        assert gsis[index.name]["KeySchema"] == [
            {"AttributeName": index.partition_key, "KeyType": "HASH"},
            {"AttributeName": index.sort_key, "KeyType": "RANGE"},
        ]
        assert gsis[index.name]["Projection"] == {"ProjectionType": "ALL"}
    lsis = {i["IndexName"]: i for i in props["LocalSecondaryIndexes"]}
    for index in TABLE.local_indexes:
        assert lsis[index.name]["KeySchema"][1] == {"AttributeName": index.sort_key, "KeyType": "RANGE"}
        assert lsis[index.name]["Projection"] == {"ProjectionType": "ALL"}

    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["SSESpecification"]["SSEType"] == "KMS"
    key_id = ref(props["SSESpecification"]["KMSMasterKeyId"])
    assert synthesized.resources[key_id]["Properties"]["EnableKeyRotation"] is True
    assert props["StreamSpecification"] == {"StreamViewType": TABLE.stream_view}
    assert props["TimeToLiveSpecification"] == {"AttributeName": TABLE.ttl_attribute, "Enabled": True}
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    # The table's key must outlive a deleted stack too, or the retained table is unreadable.
    assert synthesized.resources[key_id]["DeletionPolicy"] == "Retain"


def test_every_route_has_its_method_function_and_auth(synthesized: Synthesized) -> None:
    methods = route_methods(synthesized)
    functions = function_ids(synthesized)

    for route in ROUTES:
        method = methods[(route.method, route.path)]
        expected_auth = "AWS_IAM" if route.auth == "iam" else "COGNITO_USER_POOLS"
        assert method["AuthorizationType"] == expected_auth, route
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        uri_parts = integration["Uri"]["Fn::Join"][1]
        assert {"Fn::GetAtt": [functions[route.function], "Arn"]} in uri_parts, route
        assert ("RequestValidatorId" in method) == (route.method in {"POST", "PUT", "PATCH"}), route
        # With pos_api_keys=true (the test context) exactly the point-of-sale routes need a key too.
        assert method.get("ApiKeyRequired", False) == is_pos_route(route), route


def test_api_stage_logs_traces_throttles_and_sits_behind_waf(synthesized: Synthesized) -> None:
    (stage_id, stage), *_ = synthesized.of_type("AWS::ApiGateway::Stage").items()
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    assert "DestinationArn" in props["AccessLogSetting"]
    (settings,) = props["MethodSettings"]
    assert settings["LoggingLevel"] in {"ERROR", "INFO"}
    assert settings["DataTraceEnabled"] is False
    assert settings["ThrottlingRateLimit"] > 0 and settings["ThrottlingBurstLimit"] > 0

    (acl,) = synthesized.of_type("AWS::WAFv2::WebACL").values()
    rules = acl["Properties"]["Rules"]
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
    assert any("RateBasedStatement" in r["Statement"] for r in rules)
    (association,) = synthesized.of_type("AWS::WAFv2::WebACLAssociation").values()
    assert stage_id in json.dumps(association["Properties"]["ResourceArn"])


def test_member_authorizer_is_the_user_pool_with_immutable_member_claims(synthesized: Synthesized) -> None:
    (pool_id, pool), *_ = synthesized.of_type("AWS::Cognito::UserPool").items()
    schema = {a["Name"]: a for a in pool["Properties"]["Schema"]}
    for name in ("program_id", "member_id"):
        assert schema[name]["AttributeDataType"] == "String"
        assert schema[name]["Mutable"] is False
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    (authorizer,) = synthesized.of_type("AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["Properties"]["ProviderARNs"] == [{"Fn::GetAtt": [pool_id, "Arn"]}]


def test_every_queue_is_encrypted_with_a_dead_letter_queue_and_enough_visibility(synthesized: Synthesized) -> None:
    queues = synthesized.of_type("AWS::SQS::Queue")
    policies = json.dumps(synthesized.of_type("AWS::SQS::QueuePolicy"))

    for definition in QUEUES:
        props = queues[definition.logical_id]["Properties"]
        redrive = props["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == definition.max_receive_count >= 5
        assert ref(redrive["deadLetterTargetArn"]) in queues
        assert props["MessageRetentionPeriod"] == definition.retention_days * 86400
        if definition.consumer:
            assert props["VisibilityTimeout"] >= 6 * function(definition.consumer).timeout_s
    for logical_id, queue in queues.items():
        assert "KmsMasterKeyId" in queue["Properties"], logical_id
        assert f'"Ref": "{logical_id}"' in policies, f"{logical_id} has no TLS-only policy"
    assert '"aws:SecureTransport": "false"' in policies


def test_every_queue_consumer_reports_batch_item_failures(synthesized: Synthesized) -> None:
    functions = function_ids(synthesized)
    mappings = synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
    by_source = {ref(m["Properties"]["EventSourceArn"]): m["Properties"] for m in mappings}

    for definition in QUEUES:
        if definition.consumer is None:
            assert definition.logical_id not in by_source
            continue
        mapping = by_source[definition.logical_id]
        assert mapping["FunctionName"] == {"Ref": functions[definition.consumer]}
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BatchSize"] == definition.batch_size
        assert mapping["ScalingConfig"]["MaximumConcurrency"] == definition.max_concurrency
    for mapping in mappings:
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_stream_drives_each_consumer_with_retries_and_its_own_failure_queue(synthesized: Synthesized) -> None:
    consumers = [f.name for f in FUNCTIONS if f.stream_consumer]
    assert {"publisher", "reporter"} <= set(consumers)
    mappings = {
        m["Properties"]["FunctionName"]["Ref"]: m["Properties"]
        for m in synthesized.of_type("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [TABLE.logical_id, "StreamArn"]}
    }
    ids = function_ids(synthesized)
    assert set(mappings) == {ids[name] for name in consumers}  # one mapping each: each reads every record
    failure_queues = set()
    for name in consumers:
        mapping = mappings[ids[name]]
        assert mapping["BatchSize"] == 100
        assert mapping["StartingPosition"] == "TRIM_HORIZON"
        assert mapping["BisectBatchOnFunctionError"] is True
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["MaximumRetryAttempts"] > 0
        destination = ref(mapping["DestinationConfig"]["OnFailure"]["Destination"])
        assert destination in synthesized.of_type("AWS::SQS::Queue")
        failure_queues.add(destination)
    assert len(failure_queues) == len(consumers)
    # The reporter is only invoked for what it counts (not for its own counter writes).
    patterns = [json.loads(f["Pattern"]) for f in mappings[ids["reporter"]]["FilterCriteria"]["Filters"]]
    assert {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"type": {"S": ["entry"]}}}} in patterns
    assert {"dynamodb": {"NewImage": {"type": {"S": ["member"]}}}} in patterns
    assert "FilterCriteria" not in mappings[ids["publisher"]]


def test_a_schedule_per_job_passes_the_scheduled_time(synthesized: Synthesized) -> None:
    functions = function_ids(synthesized)
    schedules = {
        s["Properties"]["Description"]: s["Properties"]
        for s in synthesized.of_type("AWS::Scheduler::Schedule").values()
    }

    for job in SCHEDULES:
        schedule = schedules[f"Runs the {job.name} job"]
        assert schedule["ScheduleExpression"] == f"cron({job.cron})"
        assert schedule["ScheduleExpressionTimezone"] in {"UTC", "Etc/UTC"}
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
        target = schedule["Target"]
        assert target["Arn"] == {"Fn::GetAtt": [functions[job.function], "Arn"]}
        assert json.loads(target["Input"]) == {
            "job": job.name,
            "scheduled_time": "<aws.scheduler.scheduled-time>",
            "execution_id": "<aws.scheduler.execution-id>",
        }
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert "DeadLetterConfig" in target


def test_every_function_is_arm64_python313_traced_with_json_logs(synthesized: Synthesized) -> None:
    functions = synthesized.of_type("AWS::Lambda::Function")
    ids = function_ids(synthesized)
    assert set(ids) == {f.name for f in FUNCTIONS}

    for definition in FUNCTIONS:
        props = functions[ids[definition.name]]["Properties"]
        assert props["Architectures"] == ["arm64"]
        assert props["Runtime"] == "python3.13"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["Timeout"] == definition.timeout_s
        assert props["MemorySize"] == definition.memory_mb
        assert len(props["Layers"]) == 1
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == f"loyalty-{definition.name}"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Loyalty"
        assert env["LOYALTY_TABLE"] == {"Ref": TABLE.logical_id}
        assert env["LOYALTY_EXPIRY_QUEUE_URL"] == {"Ref": "ExpiryQueue"}
        assert env["LOYALTY_NOTIFICATIONS_QUEUE_URL"] == {"Ref": "NotificationsQueue"}
        assert "LOYALTY_EVENT_BUS" in env
        log_group = synthesized.resources[props["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_group["Properties"]["RetentionInDays"] > 0


def test_each_function_has_its_own_role_without_star_actions(synthesized: Synthesized) -> None:
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in synthesized.of_type("AWS::Lambda::Function").values()]
    assert len(set(roles)) == len(roles) == len(FUNCTIONS)
    for logical_id in roles:
        assert "ManagedPolicyArns" not in synthesized.resources[logical_id]["Properties"]

    for policy_id, policy in synthesized.of_type("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any(a == "*" or a.endswith(":*") for a in actions), (policy_id, actions)
            # '*' only for actions that have no resource-level permissions (the acknowledged IAM5 findings):
            # SMS to a phone number too, for the notifier alone.
            if statement["Resource"] == "*" and statement["Effect"] == "Allow":
                allowed = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "dynamodb:ListStreams"}
                if policy_id.startswith("FunctionsNotifierSms"):
                    allowed.add("sns:Publish")
                assert set(actions) <= allowed, (policy_id, actions)


def test_only_the_stream_consumers_read_the_stream_and_nobody_scans(synthesized: Synthesized) -> None:
    statements = [
        (policy_id, s)
        for policy_id, policy in synthesized.of_type("AWS::IAM::Policy").items()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert not [p for p, s in statements if "dynamodb:Scan" in s["Action"]]
    readers = {p for p, s in statements if "dynamodb:GetRecords" in s["Action"]}
    consumers = [f.name for f in FUNCTIONS if f.stream_consumer]
    assert len(readers) == len(consumers)
    assert all(any(pascal(name) in reader for reader in readers) for name in consumers)


def test_every_dead_letter_queue_has_an_alarm_to_the_topic(synthesized: Synthesized) -> None:
    alarms = synthesized.of_type("AWS::CloudWatch::Alarm").values()
    watched = {
        ref(dimension["Value"])
        for alarm in alarms
        if alarm["Properties"].get("Namespace") == "AWS/SQS"
        for dimension in alarm["Properties"]["Dimensions"]
    }
    assert dead_letter_queue_ids(synthesized) <= watched
    (topic_id, topic), *_ = synthesized.of_type("AWS::SNS::Topic").items()
    assert "KmsMasterKeyId" in topic["Properties"]
    assert all(alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}] for alarm in alarms)


def test_function_api_and_table_alarms_exist(synthesized: Synthesized) -> None:
    alarms = [a["Properties"] for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()]
    lambda_metrics = {
        (a["MetricName"], ref(a["Dimensions"][0]["Value"])) for a in alarms if a.get("Namespace") == "AWS/Lambda"
    }
    for logical_id in function_ids(synthesized).values():
        assert ("Errors", logical_id) in lambda_metrics
        assert ("Throttles", logical_id) in lambda_metrics
    api_metrics = {
        (a["MetricName"], a.get("ExtendedStatistic")) for a in alarms if a.get("Namespace") == "AWS/ApiGateway"
    }
    assert {("5XXError", None), ("Latency", "p99")} <= api_metrics
    assert any("ThrottleEvents" in json.dumps(a.get("Metrics", "")) for a in alarms)


def test_dashboard_shows_the_business_metrics(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in ("PointsEarned", "PointsRedeemed", "PointsExpired", "PointsReversed", "Redemptions", "Enrollments"):
        assert metric in body
    assert "{Loyalty,service}" in body


def test_the_bus_is_archived_and_the_crm_rule_has_a_dead_letter_queue(synthesized: Synthesized) -> None:
    (bus,) = synthesized.of_type("AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == "loyalty-test"
    (archive,) = synthesized.of_type("AWS::Events::Archive").values()
    assert archive["Properties"]["EventPattern"] == {"source": ["loyalty"]}
    (rule,) = synthesized.of_type("AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"] == {"source": ["loyalty"]}
    (target,) = rule["Properties"]["Targets"]
    assert ref(target["Arn"]) in synthesized.of_type("AWS::Events::ApiDestination")
    assert "DeadLetterConfig" in target


def test_the_notifier_consumes_reminders_and_sends_from_one_identity(synthesized: Synthesized) -> None:
    notifier = function_ids(synthesized)["notifier"]
    props = synthesized.resources[notifier]["Properties"]
    assert props["Environment"]["Variables"]["LOYALTY_EMAIL_FROM"] == "noreply@example.com"
    role = ref(props["Role"])
    statements = [
        (policy_id, s)
        for policy_id, policy in synthesized.of_type("AWS::IAM::Policy").items()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]

    def granted(action: str, effect: str = "Allow") -> list[Any]:
        return [
            s["Resource"]
            for _, s in statements
            if s["Effect"] == effect and action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
        ]

    (ses,) = [s for _, s in statements if s["Action"] == "ses:SendEmail"]
    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": "noreply@example.com"}}
    identities = json.dumps(ses["Resource"])
    assert ":identity/noreply@example.com" in identities and ":identity/example.com" in identities
    assert granted("sns:Publish") == ["*"]
    assert "sns:*:*:*" in json.dumps(granted("sns:Publish", "Deny"))
    assert granted("events:PutEvents")
    assert "dynamodb:PutItem" in json.dumps([s["Action"] for _, s in statements])
    # No other function may send email or SMS.
    others = [
        policy_id
        for policy_id, policy in synthesized.of_type("AWS::IAM::Policy").items()
        if {"Ref": role} not in policy["Properties"]["Roles"]
        and any(a in json.dumps(policy["Properties"]["PolicyDocument"]) for a in ("ses:SendEmail", "sns:Publish"))
    ]
    assert others == []
