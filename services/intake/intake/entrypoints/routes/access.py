"""Who is asking about a ticket: an agent (by API key) or its requester (by its access token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from supportdesk_service.auth import agent_for
from supportdesk_service.problems import Problem

from ...service_layer import views
from . import Runtime

bearer = HTTPBearer(auto_error=False, description="An agent API key, or the ticket's access token")


@dataclass(frozen=True)
class Caller:
    kind: str  # "agent" | "customer"
    name: str

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"


async def ticket_caller(
    ticket_id: str, runtime: Runtime, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    agent = agent_for(runtime, credentials)
    access = await views.ticket_access(runtime.engine, ticket_id)
    if access is not None:
        if agent is not None:
            return Caller("agent", agent)
        if credentials is not None and access.opens_with(credentials.credentials):
            # Not their address: `by` travels in clear in events, which outlive an erasure.
            return Caller("customer", "requester")
    # The same answer whether it does not exist or is someone else's: ids reveal nothing.
    raise Problem(404, "Not Found", f"no ticket {ticket_id} for these credentials")


TicketCaller = Annotated[Caller, Depends(ticket_caller)]
