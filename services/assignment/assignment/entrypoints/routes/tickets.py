"""Who holds a ticket: read it (with its version as an ETag), assign it, claim it, put it back in
the pool, hand it to a third party. Every command accepts `If-Match` with the version read; a stale
one answers 412 with the events the caller has not seen."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field, model_validator

from supportdesk_service.auth import Agent, AgentAuth
from supportdesk_service.guard import SafeText
from supportdesk_service.problems import Problem, problem_answers

from ...service_layer import commands, views
from ...service_layer.holders import Refused
from . import Runtime
from .people import refused

router = APIRouter(tags=["assignment"], dependencies=[AgentAuth])

IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=100)]
COMMAND_ANSWERS = problem_answers(
    s404="assignment has not heard of the ticket",
    s409="the ticket is closed",
    s412="If-Match is not the assignment's version: the body lists the events missed",
    s422="an invalid field, named in the body",
)


class AssignmentView(BaseModel):
    ticket_id: str
    team: str | None
    agent: str | None
    third_party: str | None
    manual: bool
    is_open: bool
    queue: str | None
    priority: str | None
    waiting_since: datetime | None
    due_at: datetime | None
    version: int


def _version(if_match: str | None) -> int | None:
    """The version an `If-Match` names (`"3"`, `W/"3"`); None for none or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise Problem(422, "Invalid request", 'If-Match is an assignment version, e.g. "3"', field="If-Match")
    return int(tag)


async def _answer(runtime: Runtime, ticket_id: str, response: Response) -> AssignmentView:
    row = await views.assignment(runtime.engine, ticket_id)
    if row is None:
        raise Problem(404, "Not Found", f"assignment has not heard of ticket {ticket_id} (yet)")
    response.headers["ETag"] = f'"{row["version"]}"'
    return AssignmentView.model_validate(dict(row))


def _problem(e: Exception) -> Problem:
    if isinstance(e, commands.Stale):
        return Problem(
            412,
            "Precondition Failed",
            f"the assignment changed: it is at version {e.version}; the events you missed are listed",
            field="If-Match",
            version=e.version,
            missed_events=e.missed,
        )
    assert isinstance(e, Refused)
    return refused(e)


@router.get("/v1/tickets/{ticket_id}/assignment", response_model=AssignmentView)
async def get_assignment(ticket_id: str, runtime: Runtime, response: Response) -> AssignmentView:
    """Who holds the ticket (an agent, a team's pool, a third party) and its version (`ETag`)."""
    return await _answer(runtime, ticket_id, response)


class AssignIn(BaseModel):
    agent: str | None = Field(None, min_length=1, max_length=100)
    team: str | None = Field(None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _something(self) -> AssignIn:
        if self.agent is None and self.team is None:
            raise ValueError("give an agent, a team, or both")
        return self


@router.put("/v1/tickets/{ticket_id}/assignment", response_model=AssignmentView, responses=COMMAND_ANSWERS)
async def assign(
    ticket_id: str, body: AssignIn, runtime: Runtime, agent: Agent, response: Response, if_match: IfMatch = None
) -> AssignmentView:
    """Give the ticket to an agent (of `team`, else of the ticket's team) or to a team's pool. A
    person's choice wins over the rule: the rule never takes it away (a hand-back may)."""
    try:
        await commands.assign(
            runtime.engine, runtime.clock, ticket_id, body.agent, body.team, agent, _version(if_match)
        )
    except (commands.Stale, Refused) as e:
        raise _problem(e) from e
    return await _answer(runtime, ticket_id, response)


@router.post("/v1/tickets/{ticket_id}/claim", response_model=AssignmentView, responses=COMMAND_ANSWERS)
async def claim(
    ticket_id: str, runtime: Runtime, agent: Agent, response: Response, if_match: IfMatch = None
) -> AssignmentView:
    """The caller takes the ticket (403 if they are not an agent of the directory)."""
    try:
        await commands.claim(runtime.engine, runtime.clock, ticket_id, agent, _version(if_match))
    except (commands.Stale, Refused) as e:
        raise _problem(e) from e
    return await _answer(runtime, ticket_id, response)


@router.delete("/v1/tickets/{ticket_id}/assignment", response_model=AssignmentView, responses=COMMAND_ANSWERS)
async def unassign(
    ticket_id: str, runtime: Runtime, agent: Agent, response: Response, if_match: IfMatch = None
) -> AssignmentView:
    """Nobody holds the ticket; it waits in its team's pool again."""
    try:
        await commands.unassign(runtime.engine, runtime.clock, ticket_id, agent, _version(if_match))
    except (commands.Stale, Refused) as e:
        raise _problem(e) from e
    return await _answer(runtime, ticket_id, response)


class ThirdPartyIn(BaseModel):
    vendor: SafeText = Field(min_length=1, max_length=200)


@router.post("/v1/tickets/{ticket_id}/third-party", response_model=AssignmentView, responses=COMMAND_ANSWERS)
async def third_party(
    ticket_id: str, body: ThirdPartyIn, runtime: Runtime, agent: Agent, response: Response, if_match: IfMatch = None
) -> AssignmentView:
    """Hand the ticket to a vendor (docs/policies.md#seed-000); it leaves the pool. Assignment does
    not close tickets: when the requester agrees, the request is closed through intake with the
    `third_party_issue` closure code, which stops its clocks."""
    try:
        await commands.to_vendor(runtime.engine, runtime.clock, ticket_id, body.vendor, agent, _version(if_match))
    except (commands.Stale, Refused) as e:
        raise _problem(e) from e
    return await _answer(runtime, ticket_id, response)
