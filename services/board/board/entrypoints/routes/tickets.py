"""Agents' reads of the board: the list (filters, sorts, cursor pages), one ticket with its
timeline, and the summary ops dashboards show."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict

from supportdesk_service.auth import Agent, AgentAuth
from supportdesk_service.problems import Problem

from ...domain.ticket_filter import BadCursor, Sort, TicketFilter
from ...service_layer import views
from ...service_layer.people import PeopleFilter, UnknownValue
from ...service_layer.presence import Activity, NoSuchTicket, announce
from . import Runtime
from .filters import people_filter, ticket_filter, unknown

router = APIRouter(tags=["board"], dependencies=[AgentAuth])

AsOf = Annotated[
    AwareDatetime | None,
    Query(description="answer as the board stood at this instant (RFC 3339 with an offset), folded from its events"),
]


@router.get("/v1/board/tickets")
async def list_tickets(
    runtime: Runtime,
    caller: Agent,
    flt: Annotated[TicketFilter, Depends(ticket_filter)],
    asked: Annotated[PeopleFilter, Depends(people_filter)],
    sort: Sort = Sort.NEXT_DUE,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Tickets matching every filter given, `sort`ed; `next_cursor` fetches the next page. Each row's
    `business_time` is the countdown to its next due instant in the business calendar its clock's
    events carried, as of the read (null without a running clock or a carried calendar). With
    `as_of`, the tickets as they stood then (`at_risk_within` and the countdowns count from
    `as_of`): tickets with events after the instant are folded again from their events up to it
    (seconds for ten thousand), the rest read as they are. `assignee` (an agent id, `me`, `none`)
    and `team` (a team id, `mine`) filter by holder; `me` is the caller's agent in the directory
    (the key's or token's name as an agent id or email). `change` is the newest change id before the
    read (null with `as_of`): a stream resumed from it (`Last-Event-ID`) misses nothing that changed
    after the read."""
    change = await views.latest_change(runtime.engine) if as_of is None else None  # no stream resumes in the past
    try:
        rows, next_cursor = await views.ticket_page(
            runtime.engine, runtime.clock, flt, sort, limit, cursor, as_of, asked, caller
        )
    except UnknownValue as e:
        raise unknown(e) from e
    except BadCursor as e:
        raise Problem(
            422, "Invalid request", f"cursor: {e}", errors=[{"field": "query.cursor", "message": str(e)}]
        ) from e
    return {"tickets": rows, "next_cursor": next_cursor, "change": change}


@router.get("/v1/board/tickets/{ticket_id}")
async def get_ticket(ticket_id: str, runtime: Runtime, as_of: AsOf = None) -> dict[str, Any]:
    """One ticket's row and its timeline: every service's events about it, in order, with who and
    why. With `as_of`: the ticket as it stood at that instant, folded from its events up to then."""
    ticket = await views.ticket(runtime.engine, runtime.clock, ticket_id, as_of)
    if ticket is None:
        when = f" as of {as_of.isoformat()}" if as_of is not None else " (yet)"
        raise Problem(404, "Not Found", f"the board has no ticket {ticket_id}{when}")
    return ticket


@router.get("/v1/board/summary")
async def summary(runtime: Runtime, as_of: AsOf = None) -> dict[str, Any]:
    """Open tickets per queue x priority x status, at risk, breached and still open, escalations
    per level, and today's and this ISO week's SLA attainment per plan x priority. With `as_of`:
    the same figures as they stood then ("today" and "this week" around `as_of`): tickets with
    events after the instant are folded again from their events up to it, the rest read as they are."""
    settings = runtime.settings
    zone, window = ZoneInfo(settings.report_timezone), settings.at_risk_window_seconds
    return await views.summary(runtime.engine, runtime.clock, zone, window, as_of)


class PresenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    activity: Activity


@router.post("/v1/board/tickets/{ticket_id}/presence", status_code=202)
async def presence(ticket_id: str, body: PresenceBody, runtime: Runtime, caller: Agent) -> dict[str, Any]:
    """The caller is viewing or replying to the ticket: every live stream says so (`event:
    presence`) until `presence_seconds` (30) after the caller's last word; a page repeats it
    while it stays. Not stored with the ticket: no event, no timeline line."""
    settings, now = runtime.settings, runtime.clock.now()
    try:
        return await announce(runtime.engine, ticket_id, caller, body.activity, now, settings.presence_seconds)
    except NoSuchTicket as e:
        raise Problem(404, "Not Found", f"the board has no ticket {ticket_id} (yet)") from e
