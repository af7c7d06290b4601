"""The lifecycle commands. Each is validated against the ticket's history: an impossible
transition answers 409 with the current state; concurrent commands are serialised."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from pydantic import BaseModel, Field

from supportdesk_contract.catalogue import Channel, ClosureCode, Severity
from supportdesk_service.auth import Agent
from supportdesk_service.guard import SafeText
from supportdesk_service.problems import Problem, problem_answers

from ...domain.ticket import Ticket, TransitionRefused
from ...service_layer.commands import TicketBusy, TicketNotFound, run_command
from . import Runtime
from .access import TicketCaller

router = APIRouter(
    prefix="/v1/tickets/{ticket_id}",
    tags=["lifecycle"],
    responses={
        404: {"description": "no such ticket for these credentials"},
        409: {"description": "the ticket's history does not allow this now"},
    },
)

Text = Field(min_length=1, max_length=100_000)


class CommandResult(BaseModel):
    ticket_id: str
    status: str
    version: int
    cycle: int


async def command(runtime: Runtime, ticket_id: str, decide: Callable[[Ticket], None]) -> CommandResult:
    try:
        ticket = await run_command(runtime.engine, ticket_id, decide, runtime.clock)
    except TransitionRefused as e:
        raise Problem(409, "Conflict", str(e), current_status=e.status.value, current_version=e.version) from None
    except TicketNotFound:
        raise Problem(404, "Not Found", f"no ticket {ticket_id}") from None
    except TicketBusy:
        raise Problem(409, "Conflict", "the ticket is changing too fast; retry") from None
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
async def respond(ticket_id: str, body: ResponseIn, runtime: Runtime, agent: Agent) -> CommandResult:
    """An agent's response; the first public one confirms receipt (the Initial Response)."""
    return await command(runtime, ticket_id, lambda t: t.respond(agent, body.body, body.public))


@router.post("/info-requests", response_model=CommandResult)
async def request_info(ticket_id: str, body: InfoRequestIn, runtime: Runtime, agent: Agent) -> CommandResult:
    """Ask the customer for information: the ticket awaits the customer (SLA clocks pause)."""
    return await command(runtime, ticket_id, lambda t: t.request_info(agent, body.question))


@router.post("/replication", response_model=CommandResult)
async def mark_replicated(ticket_id: str, body: NoteIn, runtime: Runtime, agent: Agent) -> CommandResult:
    """The issue is replicated: Analysis, and the resolution clock starts."""
    return await command(runtime, ticket_id, lambda t: t.mark_replicated(agent, body.note))


@router.post("/workarounds", response_model=CommandResult)
async def deliver_workaround(ticket_id: str, body: WorkaroundIn, runtime: Runtime, agent: Agent) -> CommandResult:
    """A workaround or fix is delivered: Monitor; the customer has the policy's window to confirm."""
    return await command(runtime, ticket_id, lambda t: t.deliver_workaround(agent, body.description, body.is_fix))


@router.post("/severity", response_model=CommandResult)
async def change_severity(ticket_id: str, body: SeverityIn, runtime: Runtime, agent: Agent) -> CommandResult:
    """Severity may change during the case."""
    return await command(runtime, ticket_id, lambda t: t.change_severity(agent, body.severity, body.reason))


@router.post("/close", response_model=CommandResult)
async def close(ticket_id: str, body: CloseIn, runtime: Runtime, agent: Agent) -> CommandResult:
    """Close with one of the closure codes."""
    return await command(runtime, ticket_id, lambda t: t.close(agent, body.closure_code, body.note))


@router.post("/reopen", response_model=CommandResult)
async def reopen(ticket_id: str, body: ReasonIn, runtime: Runtime, caller: TicketCaller) -> CommandResult:
    """Reopen a closed ticket (agent or requester): a new cycle of SLA clocks."""
    return await command(runtime, ticket_id, lambda t: t.reopen(caller.name, body.reason))


@router.post("/replies", response_model=CommandResult)
async def reply(ticket_id: str, body: ReplyIn, runtime: Runtime, caller: TicketCaller) -> CommandResult:
    """The requester's reply from the web; ends an awaiting-customer pause."""
    if caller.kind != "customer":
        raise Problem(403, "Forbidden", "replies are the requester's; agents respond with /responses")
    return await command(runtime, ticket_id, lambda t: t.customer_reply(body.body, Channel.WEB))


@router.post(
    "/confirmation",
    response_model=CommandResult,
    responses=problem_answers(s403="an agent key: only the requester confirms (agents close with /close)"),
)
async def confirm(ticket_id: str, runtime: Runtime, caller: TicketCaller) -> CommandResult:
    """The requester confirms the workaround or fix resolves the request: closed. Only the
    requester (their access token): an agent closes with /close and a closure code instead."""
    if caller.kind != "customer":
        raise Problem(403, "Forbidden", "confirmation is the requester's; agents close with /close")
    return await command(runtime, ticket_id, lambda t: t.confirm_resolution(caller.name))


@router.post("/escalation-requests", response_model=CommandResult)
async def request_escalation(ticket_id: str, body: ReasonIn, runtime: Runtime, caller: TicketCaller) -> CommandResult:
    """A customer not satisfied with progress may request escalation, with a reason."""
    return await command(runtime, ticket_id, lambda t: t.request_escalation(caller.name, body.reason))
