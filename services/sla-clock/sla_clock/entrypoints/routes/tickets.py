from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from supportdesk_events.web import AgentAuth, Problem, Runtime

from ...adapters.tables import clocks

router = APIRouter(prefix="/v1/tickets", tags=["tickets"], dependencies=[AgentAuth])


class ClockView(BaseModel):
    clock: str
    cycle: int
    state: str
    started_at: datetime
    priority: str | None
    target_seconds: int | None
    due_at: datetime | None
    elapsed_business_seconds: int
    calendar: str | None
    policy_version: str | None


class TicketSla(BaseModel):
    ticket_id: str
    clocks: list[ClockView]


@router.get("/{ticket_id}/sla", response_model=TicketSla)
async def get_ticket_sla(ticket_id: str, runtime: Runtime) -> TicketSla:
    async with runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(clocks).where(clocks.c.ticket_id == ticket_id).order_by(clocks.c.cycle, clocks.c.clock)
            )
        ).all()
    if not rows:
        raise Problem(404, "Not Found", f"no SLA clocks for ticket {ticket_id} (yet)")
    return TicketSla(ticket_id=ticket_id, clocks=[ClockView.model_validate(r._mapping) for r in rows])
