"""Reads for agents and ops dashboards: one ticket's clocks, clocks at risk, clocks breached."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from supportdesk_service.auth import AgentAuth
from supportdesk_service.problems import Problem

from ...adapters.policy_book import PolicyBook, PolicyError, policy_book
from ...service_layer import views
from ...service_layer.reports import ReportRow, week_bounds, weekly_report
from ...settings import Settings
from . import Runtime

router = APIRouter(tags=["sla"], dependencies=[AgentAuth])


class ClockView(BaseModel):
    ticket_id: str
    clock: str
    cycle: int
    state: str
    started_at: datetime
    priority: str | None
    plan: str | None
    target_seconds: int | None
    due_at: datetime | None
    stopped_at: datetime | None
    elapsed_business_seconds: float | None
    met: bool | None
    breached_at: datetime | None
    warned: list[int]
    closure_code: str | None
    calendar: str | None
    policy_version: str | None
    # Live, for the current cycle: business time run so far and left before the due instant.
    elapsed_business_seconds_now: float | None = None
    remaining_business_seconds: float | None = None


def _book(settings: Settings) -> PolicyBook:
    return policy_book(settings.default_policy, settings.default_plan, settings.policy_dir)


class TicketSla(BaseModel):
    ticket_id: str
    clocks: list[ClockView]


@router.get("/v1/tickets/{ticket_id}/sla", response_model=TicketSla)
async def get_ticket_sla(ticket_id: str, runtime: Runtime) -> TicketSla:
    rows = await views.ticket_clocks(runtime.engine, _book(runtime.settings), ticket_id, runtime.clock.now())
    if not rows:
        raise Problem(404, "Not Found", f"no SLA clocks for ticket {ticket_id} (yet)")
    return TicketSla(ticket_id=ticket_id, clocks=[ClockView.model_validate(r) for r in rows])


@router.get("/v1/sla/at-risk", response_model=list[ClockView])
async def at_risk(
    runtime: Runtime, within_seconds: int = Query(3600, ge=0, le=90 * 86400), limit: int = Query(200, ge=1, le=1000)
) -> list[ClockView]:
    """Running SLA clocks not yet breached and due within the window, soonest first."""
    rows = await views.at_risk(runtime.engine, runtime.clock.now(), within_seconds, limit)
    return [ClockView.model_validate(r) for r in rows]


@router.get("/v1/sla/breached", response_model=list[ClockView])
async def breached(
    runtime: Runtime, still_open: bool = True, limit: int = Query(200, ge=1, le=1000)
) -> list[ClockView]:
    """Breached SLA clocks, most recent breach first; by default only those still running."""
    return [ClockView.model_validate(r) for r in await views.breached(runtime.engine, still_open, limit)]


class WeeklyReport(BaseModel):
    policy: str
    week: str
    time_zone: str
    starts: datetime
    ends: datetime
    rows: list[ReportRow]


@router.get("/v1/sla/reports/weekly", response_model=WeeklyReport)
async def weekly(
    runtime: Runtime, week: str = Query(pattern=r"^\d{4}-W\d{2}$", examples=["2026-W48"]), policy: str | None = None
) -> WeeklyReport:
    """The weekly averages a policy promises: per plan x priority, for tickets logged in the ISO week."""
    settings = runtime.settings
    try:
        chosen = _book(settings).policy(policy)
    except PolicyError as e:
        raise Problem(
            422, "Invalid report request", str(e), errors=[{"field": "query.policy", "message": str(e)}]
        ) from None
    try:
        start, end = week_bounds(week, chosen)
    except ValueError as e:
        raise Problem(
            422, "Invalid report request", str(e), errors=[{"field": "query.week", "message": str(e)}]
        ) from None
    rows = await weekly_report(runtime.engine, chosen, week)
    return WeeklyReport(
        policy=chosen.name,
        week=week,
        time_zone=chosen.calendar.zone_name,
        starts=start,
        ends=end,
        rows=rows,
    )
