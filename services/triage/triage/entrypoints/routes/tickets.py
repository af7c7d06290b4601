"""Reads and overrides for agents: one ticket's triage, agents' overrides, queue counts."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from supportdesk_contract.catalogue import Priority, RequestType
from supportdesk_service.auth import Agent, AgentAuth
from supportdesk_service.guard import SafeText
from supportdesk_service.problems import Problem

from ...domain.overrides import Override
from ...service_layer import commands, views
from . import Runtime

router = APIRouter(tags=["triage"], dependencies=[AgentAuth])


class TriageView(BaseModel):
    ticket_id: str
    number: str
    channel: str
    priority: str
    severity: int | None
    request_type: str
    queue: str
    sla_exempt: bool
    swat: bool
    rule: str
    queue_rule: str
    priority_set_by: str | None
    is_open: bool
    triaged_at: datetime


@router.get("/v1/tickets/{ticket_id}/triage", response_model=TriageView)
async def get_triage(ticket_id: str, runtime: Runtime) -> TriageView:
    row = await views.triage(runtime.engine, ticket_id)
    if row is None:
        raise Problem(404, "Not Found", f"no triage decision for ticket {ticket_id} (yet)")
    return TriageView.model_validate(row)


class OverrideIn(BaseModel):
    priority: Priority | None = None
    request_type: RequestType | None = None
    queue: str | None = Field(None, min_length=1, max_length=100)
    reason: SafeText = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _something(self) -> OverrideIn:
        if self.priority is None and self.request_type is None and self.queue is None:
            raise ValueError("give at least one of priority, request_type, queue")
        return self


@router.post("/v1/tickets/{ticket_id}/overrides", response_model=TriageView)
async def override(ticket_id: str, body: OverrideIn, runtime: Runtime, agent: Agent) -> TriageView:
    """An agent changes priority, request type or queue, saying why; each change is an event.
    Severity is the ticket's own (change it on intake: POST /v1/tickets/{id}/severity)."""
    wanted = Override(body.reason, body.priority, body.request_type, body.queue)
    try:
        await commands.override_triage(runtime.engine, runtime.clock, ticket_id, wanted, agent)
    except commands.NotTriagedYet as e:
        raise Problem(404, "Not Found", str(e)) from e
    return await get_triage(ticket_id, runtime)


class QueueCount(BaseModel):
    queue: str
    priority: str
    open_tickets: int


@router.get("/v1/queues", response_model=list[QueueCount])
async def queues(runtime: Runtime) -> list[QueueCount]:
    """Open tickets per queue and priority."""
    rows = await views.open_per_queue(runtime.engine)
    return [QueueCount(queue=r["queue"], priority=r["priority"], open_tickets=r["n"]) for r in rows]
