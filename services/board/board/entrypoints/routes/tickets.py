"""Agents' reads of the board: the list (filters, sorts, cursor pages), one ticket with its
timeline, and the summary ops dashboards show."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query

from supportdesk_events.web import AgentAuth, Problem

from ...service_layer import reads
from ...service_layer.countdowns import for_settings
from ...service_layer.reads import Sort, TicketFilter
from . import Runtime
from .filters import ticket_filter

router = APIRouter(tags=["board"], dependencies=[AgentAuth])


@router.get("/v1/board/tickets")
async def list_tickets(
    runtime: Runtime,
    flt: Annotated[TicketFilter, Depends(ticket_filter)],
    sort: Sort = Sort.NEXT_DUE,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> dict[str, Any]:
    """Tickets matching every filter given, `sort`ed; `next_cursor` fetches the next page. Each row's
    `business_time` is the countdown to its next due instant in its policy's business calendar, as of
    the read (null without a running clock)."""
    now = runtime.clock.now()
    try:
        async with runtime.engine.connect() as conn:
            rows, next_cursor = await reads.list_tickets(conn, flt, sort, limit, cursor, now)
    except reads.BadCursor as e:
        raise Problem(
            422, "Invalid request", f"cursor: {e}", errors=[{"field": "query.cursor", "message": str(e)}]
        ) from e
    return {"tickets": for_settings(runtime.settings).add_to(rows, now), "next_cursor": next_cursor}


@router.get("/v1/board/tickets/{ticket_id}")
async def get_ticket(ticket_id: str, runtime: Runtime) -> dict[str, Any]:
    """One ticket's row and its timeline: every service's events about it, in order, with who and why."""
    async with runtime.engine.connect() as conn:
        ticket = await reads.ticket_with_timeline(conn, ticket_id)
    if ticket is None:
        raise Problem(404, "Not Found", f"the board has no ticket {ticket_id} (yet)")
    ticket["business_time"] = for_settings(runtime.settings).of(ticket, runtime.clock.now())
    return ticket


@router.get("/v1/board/summary")
async def summary(runtime: Runtime) -> dict[str, Any]:
    """Open tickets per queue x priority x status, at risk, breached and still open, escalations
    per level, and today's and this ISO week's SLA attainment per plan x priority."""
    settings = runtime.settings
    zone, window = ZoneInfo(settings.report_timezone), settings.at_risk_window_seconds
    async with runtime.engine.connect() as conn:
        return await reads.summary(conn, runtime.clock.now(), zone, window)
