from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from supportdesk_events.web import AgentAuth, Problem, Runtime

from ...adapters.tables import ticket_triage

router = APIRouter(prefix="/v1/tickets", tags=["tickets"], dependencies=[AgentAuth])


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
    triaged_at: datetime


@router.get("/{ticket_id}/triage", response_model=TriageView)
async def get_triage(ticket_id: str, runtime: Runtime) -> TriageView:
    async with runtime.engine.connect() as conn:
        row = (await conn.execute(select(ticket_triage).where(ticket_triage.c.ticket_id == ticket_id))).first()
    if row is None:
        raise Problem(404, "Not Found", f"no triage decision for ticket {ticket_id} (yet)")
    return TriageView.model_validate(row._mapping)
