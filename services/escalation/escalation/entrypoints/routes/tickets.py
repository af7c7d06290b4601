"""Reads and actions: a ticket's escalation and history, acknowledging it, open escalations by
level, and the directory (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from supportdesk_service.auth import AdminAuth, Agent, AgentAuth
from supportdesk_service.problems import Problem, problem_answers

from ...adapters.directory import DirectorySpec
from ...domain.escalation import NothingToAcknowledge
from ...service_layer import commands, views
from . import Runtime

router = APIRouter(tags=["escalation"], dependencies=[AgentAuth])


class EscalationView(BaseModel):
    ticket_id: str
    cycle: int
    level: int
    priority: str | None
    severity: int | None
    queue: str | None
    customer_id: str | None
    swat_eligible: bool
    swat_engaged: bool
    acknowledged_level: int | None
    acknowledged_by: str | None
    escalated_at: datetime | None
    next_climb_at: datetime | None
    resolved: bool
    last_sla_signal: str | None
    last_sla_signal_at: datetime | None
    updated_at: datetime


class EscalationHistory(EscalationView):
    history: list[dict[str, Any]]


async def _escalation(runtime: Runtime, ticket_id: str) -> EscalationView:
    row = await views.escalation(runtime.engine, ticket_id)
    if row is None:
        raise Problem(404, "Not Found", f"no escalation state for ticket {ticket_id} (yet)")
    return EscalationView.model_validate(row)


@router.get("/v1/tickets/{ticket_id}/escalation", response_model=EscalationHistory)
async def get_escalation(ticket_id: str, runtime: Runtime) -> EscalationHistory:
    view = await _escalation(runtime, ticket_id)
    return EscalationHistory(**view.model_dump(), history=await views.history(runtime.engine, ticket_id))


@router.post(
    "/v1/tickets/{ticket_id}/escalation/acknowledgement",
    response_model=EscalationView,
    responses=problem_answers(s409="nothing escalated to acknowledge (`current_level` says where it stands)"),
)
async def acknowledge(ticket_id: str, runtime: Runtime, agent: Agent) -> EscalationView:
    """The person escalated to takes it: the escalation stops climbing at this level."""
    try:
        await commands.acknowledge(runtime.engine, runtime.clock, ticket_id, agent)
    except NothingToAcknowledge as e:
        raise Problem(409, "Conflict", str(e), current_level=e.level) from e
    return await _escalation(runtime, ticket_id)


@router.get("/v1/escalations", response_model=list[EscalationView])
async def open_escalations(
    runtime: Runtime, level: Annotated[int | None, Query(ge=1, le=3)] = None
) -> list[EscalationView]:
    """Open escalations, highest level first."""
    return [EscalationView.model_validate(r) for r in await views.open_escalations(runtime.engine, level)]


admin = APIRouter(prefix="/v1/directory", tags=["directory"], dependencies=[AdminAuth])


@admin.get("", response_model=DirectorySpec)
async def get_directory(runtime: Runtime) -> DirectorySpec:
    return await views.directory(runtime.engine)


class TierLead(BaseModel):
    queue: str
    leads: list[str]
    source: Literal["teams", "directory"] = Field(
        description="teams: the leads of the active teams serving the queue (desk.people); directory: "
        "the directory's tier_leads, for a queue no such team serves"
    )
    teams: list[str] = Field(description="the ids of the teams serving the queue")


@admin.get("/tier-leads", response_model=list[TierLead])
async def get_tier_leads(runtime: Runtime) -> list[TierLead]:
    """Each queue's tier lead as escalation would page it now, and where it comes from."""
    return [TierLead.model_validate(t) for t in await views.tier_leads(runtime.engine)]


@admin.put("", response_model=DirectorySpec)
async def put_directory(spec: DirectorySpec, runtime: Runtime) -> DirectorySpec:
    """Replace the directory: tier leads per queue, account managers per customer, executives,
    SWAT, on-call, and how long each level waits for an acknowledgement before it climbs."""
    await commands.replace_directory(runtime.engine, runtime.clock, spec)
    return spec
