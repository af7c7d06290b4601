"""Tickets by web form, and reading a ticket with its history ("statused online", seed 000)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import AwareDatetime, BaseModel, EmailStr, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_contract.catalogue import Channel, RequestType, Severity
from supportdesk_messaging.db import in_transaction
from supportdesk_service.guard import SafeText
from supportdesk_service.problems import Problem

from ...adapters import inbound_store as store
from ...adapters import repository
from ...adapters.tables import tickets
from ...domain.ticket import OpenTicket
from ...service_layer import commands
from . import Runtime
from .access import TicketCaller, visible_history
from .attachments import AttachmentRef, listing

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])


class NewTicket(BaseModel):
    requester_email: EmailStr
    subject: SafeText = Field(min_length=1, max_length=500)
    description: SafeText = Field(min_length=1, max_length=100_000)
    severity: Severity | None = None
    request_type: RequestType | None = None


class TicketAccepted(BaseModel):
    ticket_id: str
    number: str
    access_token: str | None = Field(
        description="Lets the requester read this ticket; shown once, keep it (null on an idempotent replay)"
    )
    status_url: str


class HistoryEntry(BaseModel):
    event_type: str
    occurred_at: datetime
    payload: dict[str, Any]


class TicketView(BaseModel):
    ticket_id: str
    number: str
    status: str
    version: int
    cycle: int
    customer_id: str | None
    channel: str
    requester_email: str | None
    subject: str
    severity: int | None
    request_type: str | None
    opened_at: datetime
    updated_at: datetime
    history: list[HistoryEntry]
    attachments: list[AttachmentRef] = Field(description="every file the ticket's messages carried, to GET")


@router.post(
    "",
    status_code=202,
    response_model=TicketAccepted,
    responses={422: {"description": "a field is missing or invalid (problem+json names it)"}},
)
async def open_ticket(
    body: NewTicket,
    runtime: Runtime,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> TicketAccepted:
    """Open a ticket from the web form. Accepted: triage and SLA follow asynchronously.

    With an `Idempotency-Key`, the same submission twice is one ticket: the repeat answers with the
    first ticket (`Idempotent-Replayed: true`) but no access token, which is only shown once.
    """
    settings = runtime.settings
    request = OpenTicket(
        channel=Channel.WEB,
        subject=body.subject,
        description=body.description,
        requester_email=str(body.requester_email),
        severity=body.severity,
        request_type=body.request_type,
    )
    token_key = settings.requester_token_key.get_secret_value()
    prefix = settings.ticket_number_prefix
    if idempotency_key is None:  # nothing else to write with it: no transaction needed
        opened: commands.Opened | TicketAccepted = await commands.open_ticket_now(
            runtime.engine, request, number_prefix=prefix, clock=runtime.clock, token_key=token_key
        )
    else:
        fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()  # what a repeat must match
        key = f"idempotency:{idempotency_key}"

        async def work(conn: AsyncConnection) -> commands.Opened | TicketAccepted:
            first = await store.earlier_claim(conn, key, uuid.uuid4())
            if first is not None:
                if (first.result or {}).get("fingerprint") != fingerprint:
                    raise Problem(
                        422,
                        "Idempotency-Key reused",
                        "this key was used for a different submission",
                        errors=[{"field": "header.idempotency-key", "message": "reused with another body"}],
                    )
                return TicketAccepted(
                    ticket_id=first.ticket_id,
                    number=first.result["number"],
                    access_token=None,
                    status_url=f"/v1/tickets/{first.ticket_id}",
                )
            opened = await commands.open_ticket(
                conn, request, number_prefix=prefix, clock=runtime.clock, token_key=token_key
            )
            await store.settle(conn, key, opened.ticket_id, {"fingerprint": fingerprint, "number": opened.number})
            return opened

        opened = await in_transaction(runtime.engine, work)
    if isinstance(opened, TicketAccepted):  # the first submission's ticket
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
        return opened
    response.headers["Location"] = f"/v1/tickets/{opened.ticket_id}"
    return TicketAccepted(
        ticket_id=opened.ticket_id,
        number=opened.number,
        access_token=opened.access_token,
        status_url=f"/v1/tickets/{opened.ticket_id}",
    )


@router.get("/{ticket_id}", response_model=TicketView, responses={404: {"description": "no such ticket, or not yours"}})
async def get_ticket(
    ticket_id: str,
    runtime: Runtime,
    caller: TicketCaller,
    as_of: Annotated[
        AwareDatetime | None,
        Query(description="the ticket as it stood at this instant (RFC 3339 with an offset), folded from its events"),
    ] = None,
) -> TicketView:
    """A ticket and its history, for an agent or for the requester holding its access token.

    The requester sees only what `supportdesk_contract.requester_view` declares public: no internal
    notes, no sealed token, no agent-only fields. With `as_of`, the ticket folded from its events
    up to that instant (the aggregate's own fold) and its history up to then."""
    async with runtime.engine.connect() as conn:
        row = (await conn.execute(select(tickets).where(tickets.c.ticket_id == ticket_id))).one()
        entries = await repository.history(conn, ticket_id)
        past = await repository.load_as_of(conn, ticket_id, as_of) if as_of is not None else None
    fields = {k: v for k, v in row._mapping.items() if k in TicketView.model_fields}
    if as_of is not None:
        if past is None:
            raise Problem(404, "Not Found", f"ticket {ticket_id} had not been opened as of {as_of.isoformat()}")
        ticket, updated_at = past
        # What changes after opening comes from the fold; the rest was fixed when it opened.
        fields |= {
            "status": ticket.status.value,
            "severity": ticket.severity,
            "version": ticket.version,
            "cycle": ticket.cycle,
            "updated_at": updated_at,
        }
        entries = [e for e in entries if datetime.fromisoformat(e["occurred_at"]) <= as_of]
    if caller.kind != "agent":
        fields["customer_id"] = None  # our directory's id: agent-only
    visible = visible_history(caller, entries)
    return TicketView(
        **fields,
        history=[
            HistoryEntry(event_type=e["event_type"], occurred_at=e["occurred_at"], payload=e["payload"])
            for e in visible
        ],
        attachments=listing(ticket_id, visible),
    )
