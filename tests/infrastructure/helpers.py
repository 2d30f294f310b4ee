"""Reading a synthesized template back in the words of infra/definitions.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.definitions import FUNCTIONS


@dataclass(frozen=True)
class Synthesized:
    """The stack's template as JSON, where it was written, and the cloud assembly's directory."""

    template: dict[str, Any]
    template_path: Path
    outdir: Path

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == type_}


def ref(value: Any) -> str:
    """The logical id behind a Ref or Fn::GetAtt."""
    if "Ref" in value:
        return str(value["Ref"])
    return str(value["Fn::GetAtt"][0])


def function_ids(synth: Synthesized) -> dict[str, str]:
    """Definition name -> logical id of its Lambda function (found by its handler)."""
    by_handler = {f.handler: f.name for f in FUNCTIONS}
    return {
        by_handler[fn["Properties"]["Handler"]]: logical_id
        for logical_id, fn in synth.of_type("AWS::Lambda::Function").items()
    }


def route_methods(synth: Synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, path) -> the Method resource's properties."""
    resources = synth.of_type("AWS::ApiGateway::Resource")

    def path(resource_id: str) -> str:
        props = resources[resource_id]["Properties"]
        parent = props["ParentId"]
        prefix = "" if "Fn::GetAtt" in parent else path(ref(parent))
        return f"{prefix}/{props['PathPart']}"

    return {
        (m["Properties"]["HttpMethod"], path(ref(m["Properties"]["ResourceId"]))): m["Properties"]
        for m in synth.of_type("AWS::ApiGateway::Method").values()
    }


def dead_letter_queue_ids(synth: Synthesized) -> set[str]:
    """Every queue something delivers its failures to: redrives, schedules, mappings, async, rules."""
    ids = {
        ref(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in synth.of_type("AWS::SQS::Queue").values()
        if "RedrivePolicy" in q["Properties"]
    }
    ids |= {
        ref(s["Properties"]["Target"]["DeadLetterConfig"]["Arn"])
        for s in synth.of_type("AWS::Scheduler::Schedule").values()
    }
    for type_ in ("AWS::Lambda::EventSourceMapping", "AWS::Lambda::EventInvokeConfig"):
        ids |= {
            ref(m["Properties"]["DestinationConfig"]["OnFailure"]["Destination"])
            for m in synth.of_type(type_).values()
            if "DestinationConfig" in m["Properties"]
        }
    for rule in synth.of_type("AWS::Events::Rule").values():
        ids |= {ref(t["DeadLetterConfig"]["Arn"]) for t in rule["Properties"]["Targets"] if "DeadLetterConfig" in t}
    return ids
