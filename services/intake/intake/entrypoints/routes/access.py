"""Who is asking about a ticket: an agent (by API key) or its requester (by its access token)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from supportdesk_contract.requester_view import requester_view
from supportdesk_service.auth import agent_for
from supportdesk_service.problems import Problem

from ...adapters.repository import token_digest
from ...adapters.tables import tickets
from . import Runtime

bearer = HTTPBearer(auto_error=False, description="An agent API key, or the ticket's access token")


@dataclass(frozen=True)
class Caller:
    kind: str  # "agent" | "customer"
    name: str


async def ticket_caller(
    ticket_id: str, runtime: Runtime, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    agent = agent_for(runtime, credentials)
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                select(tickets.c.access_token_sha256, tickets.c.requester_email).where(tickets.c.ticket_id == ticket_id)
            )
        ).first()
    if row is not None:
        if agent is not None:
            return Caller("agent", agent)
        if credentials is not None and hmac.compare_digest(
            token_digest(credentials.credentials), row.access_token_sha256
        ):
            # Not their address: `by` travels in clear in events, which outlive an erasure.
            return Caller("customer", "requester")
    # The same answer whether it does not exist or is someone else's: ids reveal nothing.
    raise Problem(404, "Not Found", f"no ticket {ticket_id} for these credentials")


TicketCaller = Annotated[Caller, Depends(ticket_caller)]


def visible_history(caller: Caller, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What of a ticket's history the caller may see: all of it for an agent; for the requester,
    what `supportdesk_contract.requester_view` declares public (events dropped, fields cut)."""
    if caller.kind == "agent":
        return envelopes
    out = []
    for envelope in envelopes:
        payload = requester_view(envelope["event_type"], envelope["payload"])
        if payload is not None:
            out.append({**envelope, "payload": payload})
    return out
