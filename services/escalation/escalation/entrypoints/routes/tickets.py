from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from supportdesk_events.web import AgentAuth, Problem, Runtime

from ...adapters.tables import ticket_escalations

router = APIRouter(prefix="/v1/tickets", tags=["tickets"], dependencies=[AgentAuth])


class EscalationView(BaseModel):
    ticket_id: str
    level: int
    priority: str | None
    severity: int | None
    swat_eligible: bool
    last_sla_signal: str | None
    last_sla_signal_at: datetime | None
    updated_at: datetime


@router.get("/{ticket_id}/escalation", response_model=EscalationView)
async def get_escalation(ticket_id: str, runtime: Runtime) -> EscalationView:
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(select(ticket_escalations).where(ticket_escalations.c.ticket_id == ticket_id))
        ).first()
    if row is None:
        raise Problem(404, "Not Found", f"no escalation state for ticket {ticket_id} (yet)")
    return EscalationView.model_validate(row._mapping)
