"""Program admin: settings, tiers, rewards, earning rules and segments are data, changed without a deploy."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Response, Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from loyalty.api.app import api_handler, json_response
from loyalty.api.runtime import runtime
from loyalty.domain.program import EarningRule, ProgramConfig, ProgramSettings, Reward, Segment, Tier
from loyalty.services import programs

router = Router()
PROGRAM = "/v1/programs/<program_id>"


def _saved(program_id: str, part: tuple[str, str], body: dict[str, Any]) -> Response[str]:
    """Write one part of the program (its kind and id); the answer is what was stored, with its id."""
    rt = runtime()
    created = programs.put_part(rt.store, rt.cache, program_id, part, body, rt.now())
    kind, part_id = part
    return json_response(201 if created else 200, {f"{kind}_id": part_id, **body})


def _fresh(program_id: str) -> ProgramConfig:
    rt = runtime()
    rt.cache.invalidate(rt.store, program_id)  # admins read what they just wrote
    return rt.program(program_id)


@router.put(PROGRAM, tags=["admin"])
def put_program(program_id: str, settings: Annotated[ProgramSettings, Body()]) -> Response[str]:
    rt = runtime()
    created = programs.put_settings(rt.store, program_id, settings, rt.now())
    rt.cache.invalidate(rt.store, program_id)
    return json_response(201 if created else 200, programs.program_view(rt.program(program_id)))


@router.get(PROGRAM, tags=["admin"])
def get_program(program_id: str) -> Response[str]:
    return json_response(200, programs.program_view(_fresh(program_id)))


@router.put(PROGRAM + "/tiers/<tier_id>", tags=["admin"])
def put_tier(program_id: str, tier_id: str, tier: Annotated[Tier, Body()]) -> Response[str]:
    return _saved(program_id, ("tier", tier_id), tier.model_dump(mode="json"))


@router.put(PROGRAM + "/rewards/<reward_id>", tags=["admin"])
def put_reward(program_id: str, reward_id: str, reward: Annotated[Reward, Body()]) -> Response[str]:
    return _saved(program_id, ("reward", reward_id), reward.model_dump(mode="json"))


@router.put(PROGRAM + "/segments/<segment_id>", tags=["admin"])
def put_segment(program_id: str, segment_id: str, segment: Annotated[Segment, Body()]) -> Response[str]:
    return _saved(program_id, ("segment", segment_id), segment.model_dump(mode="json"))


@router.get(PROGRAM + "/segments/<segment_id>", tags=["admin"])
def get_segment(program_id: str, segment_id: str) -> Response[str]:
    return json_response(200, programs.segment_view(_fresh(program_id), segment_id))


@router.put(PROGRAM + "/earning-rules/<rule_id>", tags=["admin"])
def put_earning_rule(program_id: str, rule_id: str, rule: Annotated[EarningRule, Body()]) -> Response[str]:
    return _saved(program_id, ("rule", rule_id), programs.rule_view(rule))


@router.get(PROGRAM + "/earning-rules/<rule_id>", tags=["admin"])
def get_earning_rule(program_id: str, rule_id: str) -> Response[str]:
    return json_response(200, programs.earning_rule_view(_fresh(program_id), rule_id))


lambda_handler = api_handler(router)
