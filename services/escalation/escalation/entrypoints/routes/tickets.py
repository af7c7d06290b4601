"""Reads and actions: a ticket's escalation and history, acknowledging it, open escalations by
level, and the directory (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from supportdesk_service.auth import AdminAuth, Agent, AgentAuth
from supportdesk_service.problems import Problem

from ...adapters import directory as directory_store
from ...adapters.directory import DirectorySpec
from ...adapters.tables import events, ticket_escalations
from ...domain.escalation import NothingToAcknowledge
from ...service_layer import commands
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


async def _row(runtime: Any, ticket_id: str) -> Any:
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(select(ticket_escalations).where(ticket_escalations.c.ticket_id == ticket_id))
        ).first()
    if row is None:
        raise Problem(404, "Not Found", f"no escalation state for ticket {ticket_id} (yet)")
    return row


@router.get("/v1/tickets/{ticket_id}/escalation", response_model=EscalationHistory)
async def get_escalation(ticket_id: str, runtime: Runtime) -> EscalationHistory:
    row = await _row(runtime, ticket_id)
    async with runtime.engine.connect() as conn:
        recorded = (
            await conn.execute(
                select(events.c.envelope).where(events.c.ticket_id == ticket_id).order_by(events.c.position)
            )
        ).all()
    history = [
        {"event_type": r.envelope["event_type"], "occurred_at": r.envelope["occurred_at"], **r.envelope["payload"]}
        for r in recorded
    ]
    return EscalationHistory(**EscalationView.model_validate(row._mapping).model_dump(), history=history)


@router.post("/v1/tickets/{ticket_id}/escalation/acknowledgement", response_model=EscalationView)
async def acknowledge(ticket_id: str, runtime: Runtime, agent: Agent) -> EscalationView:
    """The person escalated to takes it: the escalation stops climbing at this level."""
    try:
        await commands.acknowledge(runtime.engine, runtime.clock, ticket_id, agent)
    except NothingToAcknowledge as e:
        raise Problem(409, "Conflict", str(e), current_level=e.level) from e
    return EscalationView.model_validate((await _row(runtime, ticket_id))._mapping)


@router.get("/v1/escalations", response_model=list[EscalationView])
async def open_escalations(
    runtime: Runtime, level: Annotated[int | None, Query(ge=1, le=3)] = None
) -> list[EscalationView]:
    """Open escalations, highest level first."""
    t = ticket_escalations
    query = select(t).where(t.c.resolved.is_(False), (t.c.level > 0) | t.c.swat_engaged)
    if level is not None:
        query = query.where(t.c.level == level)
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(query.order_by(t.c.level.desc(), t.c.escalated_at).limit(500))).all()
    return [EscalationView.model_validate(r._mapping) for r in rows]


admin = APIRouter(prefix="/v1/directory", tags=["directory"], dependencies=[AdminAuth])


@admin.get("", response_model=DirectorySpec)
async def get_directory(runtime: Runtime) -> DirectorySpec:
    async with runtime.engine.connect() as conn:
        return await directory_store.current(conn)


@admin.put("", response_model=DirectorySpec)
async def put_directory(spec: DirectorySpec, runtime: Runtime) -> DirectorySpec:
    """Replace the directory: tier leads per queue, account managers per customer, executives,
    SWAT, on-call, and how long each level waits for an acknowledgement before it climbs."""
    async with runtime.engine.begin() as conn:
        await directory_store.replace(conn, spec, runtime.clock.now())
    return spec
