"""`GET /v1/board/stream`: Server-Sent Events (sse-starlette) of board changes, filterable like
the list. Each event's id is the board's change sequence number; a client that reconnects with
`Last-Event-ID` gets every matching ticket changed after it, so nothing is missed. Without one,
the stream starts at the newest change (a `ready` event carries its id). Agents' presence
(`event: presence`, no id: it is no change of the board) goes to every stream, the current ones
first."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from pydantic_core import to_json
from sse_starlette import EventSourceResponse, ServerSentEvent

from supportdesk_service.auth import Agent, AgentAuth
from supportdesk_service.problems import Problem
from supportdesk_service.runtime import ServiceRuntime

from ...domain.ticket_filter import TicketFilter
from ...service_layer import views
from ...service_layer.people import PeopleFilter, UnknownValue
from ...service_layer.presence import Presences
from ...settings import Settings
from . import Runtime
from .filters import people_filter, ticket_filter, unknown

router = APIRouter(tags=["board"], dependencies=[AgentAuth])


def _resume_from(last_event_id: str | None) -> int | None:
    if last_event_id is None or last_event_id.strip() == "":
        return None
    try:
        value = int(last_event_id)
    except ValueError:
        value = -1
    if value < 0:
        raise Problem(
            422,
            "Invalid request",
            "Last-Event-ID must be a change id sent by this stream",
            errors=[{"field": "header.last-event-id", "message": "not a change id"}],
        )
    return value


async def changes(
    runtime: ServiceRuntime[Settings], flt: TicketFilter, after: int | None
) -> AsyncIterator[ServerSentEvent]:
    poll = runtime.settings.stream_poll_seconds
    if after is None:
        after = await views.latest_change(runtime.engine)
        yield ServerSentEvent(json.dumps({"from": after}), event="ready", id=str(after))
    presences = Presences()
    while True:  # sse-starlette cancels this when the client goes or the server shuts down
        now = runtime.clock.now()
        rows, upto = await views.changes_after(runtime.engine, after, flt, now)
        for seq, row in rows:
            # pydantic's encoder, as the list's responses use: the same row reads the same on both.
            yield ServerSentEvent(to_json(row).decode(), event="ticket", id=str(seq))
        for presence in await presences.news(runtime.engine, now):
            yield ServerSentEvent(to_json(presence).decode(), event="presence")
        if upto == after:
            await asyncio.sleep(poll)
        after = upto


@router.get("/v1/board/stream", response_class=EventSourceResponse)
async def stream(
    runtime: Runtime,
    caller: Agent,
    flt: Annotated[TicketFilter, Depends(ticket_filter)],
    asked: Annotated[PeopleFilter, Depends(people_filter)],
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
) -> EventSourceResponse:
    """Tickets as they change (`event: ticket`, data: the list row, id: the change id). The people
    filters are resolved as the stream starts (who "me" and "my team's" are then)."""
    after = _resume_from(last_event_id)
    try:
        flt = await views.resolved(runtime.engine, flt, asked, caller)
    except UnknownValue as e:
        raise unknown(e) from e
    return EventSourceResponse(changes(runtime, flt, after), ping=15)
