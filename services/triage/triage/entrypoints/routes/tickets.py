"""Reads and overrides for agents: one ticket's triage, agents' overrides, queue counts."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import func, select

from supportdesk_contract.catalogue import Priority, RequestType
from supportdesk_service.auth import Agent, AgentAuth
from supportdesk_service.guard import SafeText
from supportdesk_service.problems import Problem

from ...adapters.tables import ticket_triage
from ...domain.overrides import Override
from ...service_layer import commands
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
    async with runtime.engine.connect() as conn:
        row = (await conn.execute(select(ticket_triage).where(ticket_triage.c.ticket_id == ticket_id))).first()
    if row is None:
        raise Problem(404, "Not Found", f"no triage decision for ticket {ticket_id} (yet)")
    return TriageView.model_validate(row._mapping)


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
    t = ticket_triage
    async with runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(t.c.queue, t.c.priority, func.count().label("n"))
                .where(t.c.is_open)
                .group_by(t.c.queue, t.c.priority)
                .order_by(t.c.queue, t.c.priority)
            )
        ).all()
    return [QueueCount(queue=r.queue, priority=r.priority, open_tickets=r.n) for r in rows]
