"""The lifecycle commands. Each is validated against the ticket's history: an impossible
transition answers 409 with the current state; concurrent commands are serialised. Each takes
`If-Match` (the ticket's ETag, its version): a stale one answers 412 with the events the caller
missed; without it a command applies to whatever the ticket is now, as it always did."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from supportdesk_contract.catalogue import Channel, ClosureCode, Severity
from supportdesk_service import rate_limits
from supportdesk_service.auth import Agent
from supportdesk_service.guard import SafeText
from supportdesk_service.problems import Problem, problem_answers, problem_response

from ...domain.preconditions import IfMatch, MalformedIfMatch, etag, parse_if_match
from ...domain.ticket import Ticket, TransitionRefused
from ...service_layer import views
from ...service_layer.commands import StaleTicket, TicketBusy, TicketNotFound, run_command
from . import Runtime
from .access import Caller, TicketCaller

router = APIRouter(
    prefix="/v1/tickets/{ticket_id}",
    tags=["lifecycle"],
    responses={
        200: {
            "description": "applied; `ETag` is the ticket's new version",
            "headers": {"ETag": {"description": 'the ticket\'s version, e.g. "7"', "schema": {"type": "string"}}},
        },
        404: {"description": "no such ticket for these credentials"},
        409: {"description": "the ticket's history does not allow this now"},
        **problem_answers(
            s412="`If-Match` names a version the ticket has moved on from: nothing applied; `ETag` is the "
            "current version, and the body has `current_version` and `missed_events` (each `version`, "
            "`event_type`, `occurred_at`, `by`, `payload`, as the caller may see them)",
            s422="a field is invalid, or `If-Match` is not `*` nor this API's ETags (`errors[].field` is "
            "`header.if-match`)",
        ),
    },
)


async def if_match_header(
    if_match: Annotated[
        str | None,
        Header(
            description='The ticket\'s ETag as its last read or command gave it (`"7"`; a list, or `*`). The '
            "command applies only if the ticket is still at that version, else 412 with the events missed. "
            "Optional: without it the command applies to the ticket as it is now.",
        ),
    ] = None,
) -> IfMatch | None:
    if if_match is None:
        return None
    try:
        return parse_if_match(if_match)
    except MalformedIfMatch as e:
        raise Problem(
            422,
            "Invalid request",
            f"If-Match: {e.reason}",
            errors=[{"field": "header.if-match", "message": e.reason}],
        ) from None


Precondition = Annotated[IfMatch | None, Depends(if_match_header)]


class PreconditionFailed(Problem):
    """A 412 that also carries the ticket's current `ETag`, so a client can retry with it."""

    def __init__(self, current_version: int, missed_events: list[dict[str, Any]]) -> None:
        super().__init__(
            412,
            "Precondition Failed",
            f"the ticket is at version {current_version}; nothing was applied: see the events you missed",
            current_version=current_version,
            missed_events=missed_events,
        )
        self.etag = etag(current_version)


async def precondition_failed(_: Request, exc: Exception) -> JSONResponse:
    """The problem+json answer of PreconditionFailed, with its `ETag` (installed by the app)."""
    assert isinstance(exc, PreconditionFailed)  # registered for this class only
    response = problem_response(exc.status, exc.title, exc.detail, **exc.extra)
    response.headers["ETag"] = exc.etag
    return response


async def requester_quota(request: Request, ticket_id: str, caller: TicketCaller) -> None:
    """The requester's own actions (with the access token) are limited per ticket; agents' are not."""
    if caller.kind == "customer":
        rate_limits.check(request, rate_limits.REQUESTER_ACTIONS, f"ticket:{ticket_id}")


RequesterQuota = Depends(requester_quota)

Text = Field(min_length=1, max_length=100_000)


class CommandResult(BaseModel):
    ticket_id: str
    status: str
    version: int
    cycle: int


async def command(
    runtime: Runtime,
    ticket_id: str,
    decide: Callable[[Ticket], None],
    *,
    if_match: IfMatch | None,
    caller: Caller,
    response: Response,
) -> CommandResult:
    try:
        ticket = await run_command(runtime.engine, ticket_id, decide, runtime.clock, if_match)
    except StaleTicket as e:
        raise PreconditionFailed(e.current_version, views.missed_events(e.missed, agent=caller.is_agent)) from None
    except TransitionRefused as e:
        raise Problem(409, "Conflict", str(e), current_status=e.status.value, current_version=e.version) from None
    except TicketNotFound:
        raise Problem(404, "Not Found", f"no ticket {ticket_id}") from None
    except TicketBusy:
        raise Problem(409, "Conflict", "the ticket is changing too fast; retry") from None
    response.headers["ETag"] = etag(ticket.version)
    return CommandResult(ticket_id=ticket.id, status=ticket.status.value, version=ticket.version, cycle=ticket.cycle)


class ResponseIn(BaseModel):
    body: SafeText = Text
    public: bool = True


class InfoRequestIn(BaseModel):
    question: SafeText = Text


class NoteIn(BaseModel):
    note: SafeText = Field("", max_length=100_000)


class WorkaroundIn(BaseModel):
    description: SafeText = Text
    is_fix: bool = False


class SeverityIn(BaseModel):
    severity: Severity
    reason: SafeText = Text


class CloseIn(BaseModel):
    closure_code: ClosureCode
    note: SafeText = Field("", max_length=100_000)


class ReasonIn(BaseModel):
    reason: SafeText = Text


class ReplyIn(BaseModel):
    body: SafeText = Text


@router.post("/responses", response_model=CommandResult)
async def respond(
    ticket_id: str, body: ResponseIn, runtime: Runtime, agent: Agent, if_match: Precondition, response: Response
) -> CommandResult:
    """An agent's response; the first public one confirms receipt (the Initial Response)."""
    return await command(
        runtime,
        ticket_id,
        lambda t: t.respond(agent, body.body, body.public),
        if_match=if_match,
        caller=Caller("agent", agent),
        response=response,
    )


@router.post("/info-requests", response_model=CommandResult)
async def request_info(
    ticket_id: str, body: InfoRequestIn, runtime: Runtime, agent: Agent, if_match: Precondition, response: Response
) -> CommandResult:
    """Ask the customer for information: the ticket awaits the customer (SLA clocks pause)."""
    return await command(
        runtime,
        ticket_id,
        lambda t: t.request_info(agent, body.question),
        if_match=if_match,
        caller=Caller("agent", agent),
        response=response,
    )


@router.post("/replication", response_model=CommandResult)
async def mark_replicated(
    ticket_id: str, body: NoteIn, runtime: Runtime, agent: Agent, if_match: Precondition, response: Response
) -> CommandResult:
    """The issue is replicated: Analysis, and the resolution clock starts."""
    return await command(
        runtime,
        ticket_id,
        lambda t: t.mark_replicated(agent, body.note),
        if_match=if_match,
        caller=Caller("agent", agent),
        response=response,
    )


@router.post("/workarounds", response_model=CommandResult)
async def deliver_workaround(
    ticket_id: str, body: WorkaroundIn, runtime: Runtime, agent: Agent, if_match: Precondition, response: Response
) -> CommandResult:
    """A workaround or fix is delivered: Monitor; the customer has the policy's window to confirm."""
    return await command(
        runtime,
        ticket_id,
        lambda t: t.deliver_workaround(agent, body.description, body.is_fix),
        if_match=if_match,
        caller=Caller("agent", agent),
        response=response,
    )


@router.post("/severity", response_model=CommandResult)
async def change_severity(
    ticket_id: str, body: SeverityIn, runtime: Runtime, agent: Agent, if_match: Precondition, response: Response
) -> CommandResult:
    """Severity may change during the case."""
    return await command(
        runtime,
        ticket_id,
        lambda t: t.change_severity(agent, body.severity, body.reason),
        if_match=if_match,
        caller=Caller("agent", agent),
        response=response,
    )


@router.post("/close", response_model=CommandResult)
async def close(
    ticket_id: str, body: CloseIn, runtime: Runtime, agent: Agent, if_match: Precondition, response: Response
) -> CommandResult:
    """Close with one of the closure codes."""
    return await command(
        runtime,
        ticket_id,
        lambda t: t.close(agent, body.closure_code, body.note),
        if_match=if_match,
        caller=Caller("agent", agent),
        response=response,
    )


@router.post("/reopen", response_model=CommandResult, dependencies=[RequesterQuota], responses=rate_limits.answers())
async def reopen(
    ticket_id: str, body: ReasonIn, runtime: Runtime, caller: TicketCaller, if_match: Precondition, response: Response
) -> CommandResult:
    """Reopen a closed ticket (agent or requester): a new cycle of SLA clocks."""
    return await command(
        runtime,
        ticket_id,
        lambda t: t.reopen(caller.name, body.reason),
        if_match=if_match,
        caller=caller,
        response=response,
    )


@router.post("/replies", response_model=CommandResult, dependencies=[RequesterQuota], responses=rate_limits.answers())
async def reply(
    ticket_id: str, body: ReplyIn, runtime: Runtime, caller: TicketCaller, if_match: Precondition, response: Response
) -> CommandResult:
    """The requester's reply from the web; ends an awaiting-customer pause."""
    if caller.kind != "customer":
        raise Problem(403, "Forbidden", "replies are the requester's; agents respond with /responses")
    return await command(
        runtime,
        ticket_id,
        lambda t: t.customer_reply(body.body, Channel.WEB),
        if_match=if_match,
        caller=caller,
        response=response,
    )


@router.post(
    "/confirmation",
    response_model=CommandResult,
    dependencies=[RequesterQuota],
    responses=problem_answers(
        s403="an agent key: only the requester confirms (agents close with /close)", s429=rate_limits.REFUSED
    ),
)
async def confirm(
    ticket_id: str, runtime: Runtime, caller: TicketCaller, if_match: Precondition, response: Response
) -> CommandResult:
    """The requester confirms the workaround or fix resolves the request: closed. Only the
    requester (their access token): an agent closes with /close and a closure code instead."""
    if caller.kind != "customer":
        raise Problem(403, "Forbidden", "confirmation is the requester's; agents close with /close")
    return await command(
        runtime,
        ticket_id,
        lambda t: t.confirm_resolution(caller.name),
        if_match=if_match,
        caller=caller,
        response=response,
    )


@router.post(
    "/escalation-requests",
    response_model=CommandResult,
    dependencies=[RequesterQuota],
    responses=rate_limits.answers(),
)
async def request_escalation(
    ticket_id: str, body: ReasonIn, runtime: Runtime, caller: TicketCaller, if_match: Precondition, response: Response
) -> CommandResult:
    """A customer not satisfied with progress may request escalation, with a reason."""
    return await command(
        runtime,
        ticket_id,
        lambda t: t.request_escalation(caller.name, body.reason),
        if_match=if_match,
        caller=caller,
        response=response,
    )
