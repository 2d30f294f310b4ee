"""Members: enroll, read, change, erase, export, and the member's own view (/v1/me)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Response, Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from loyalty.api.app import api_handler, json_response, member_from_token
from loyalty.api.runtime import runtime
from loyalty.errors import Forbidden
from loyalty.models import EnrollRequest, PatchMemberRequest
from loyalty.services import members
from loyalty.services.views import member_view

router = Router()
MEMBERS = "/v1/programs/<program_id>/members"


@router.post(MEMBERS, tags=["members"])
def enroll(program_id: str, request: Annotated[EnrollRequest, Body()]) -> Response[str]:
    rt = runtime()
    now = rt.now()
    config = rt.program(program_id)
    member, created = members.enroll(rt.store, config, request, now)
    return json_response(201 if created else 200, member_view(member, [], now, config, for_admin=True))


@router.get(MEMBERS + "/<member_id>", tags=["members"])
def get_member(program_id: str, member_id: str) -> Response[str]:
    rt = runtime()
    view = members.get_member_view(rt.store, rt.program(program_id), member_id, rt.now(), for_admin=True)
    return json_response(200, view)


@router.patch(MEMBERS + "/<member_id>", tags=["members"])
def patch_member(program_id: str, member_id: str, request: Annotated[PatchMemberRequest, Body()]) -> Response[str]:
    rt = runtime()
    return json_response(200, members.patch(rt.store, rt.program(program_id), member_id, request, rt.now()))


@router.delete(MEMBERS + "/<member_id>", tags=["members"])
def erase_member(program_id: str, member_id: str) -> Response[str]:
    rt = runtime()
    return json_response(200, members.erase(rt.store, program_id, member_id, rt.now()))


@router.get(MEMBERS + "/<member_id>/export", tags=["members"])
def export_member(program_id: str, member_id: str) -> Response[str]:
    rt = runtime()
    return json_response(200, members.export(rt.store, rt.program(program_id), member_id, rt.now()))


@router.get("/v1/me", tags=["me"])
def get_me() -> Response[str]:
    program_id, member_id = member_from_token(router)
    rt = runtime()
    # A member does not see the fraud flags admins keep on them.
    view = members.get_member_view(rt.store, rt.program(program_id), member_id, rt.now(), for_admin=False)
    if view["status"] == "erased":
        raise Forbidden("this member was erased")
    return json_response(200, view)


lambda_handler = api_handler(router)
