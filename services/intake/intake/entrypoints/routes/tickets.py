"""Tickets by web form, and reading a ticket with its history ("statused online",
docs/policies.md#seed-000)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, EmailStr, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from supportdesk_contract.catalogue import Channel, RequestType, Severity
from supportdesk_service import rate_limits
from supportdesk_service.guard import SafeText
from supportdesk_service.identity import KeysUnavailable, TokenRejected, TokenVerifier
from supportdesk_service.problems import RETRY_AFTER_SECONDS, Problem, problem_answers

from ...domain.preconditions import etag
from ...domain.ticket import OpenTicket
from ...service_layer import commands, views
from . import Runtime
from .access import TicketCaller
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
    requester_verified: bool | None = Field(
        None,
        description="whether the requester is proven (a trusted frontend vouched for this address); "
        "null on an idempotent replay",
    )


# A trusted frontend's word for its signed-in user (INTAKE_REQUESTER_OIDC_ISSUER): not an agent's key.
frontend_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="FrontendUserToken",
    description="Optional, from a trusted frontend: its signed-in user's token from the configured "
    "requester issuer. Its email claim equal to `requester_email` proves the requester.",
)


async def vouched_email(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(frontend_bearer)]
) -> str | None:
    """The address a trusted frontend's token vouches for; None: no token, or no issuer configured
    (the web form is anonymous, as before). A token that fails a check is refused, not ignored."""
    verifier: TokenVerifier | None = request.app.state.requester_identity
    if credentials is None or verifier is None:
        return None
    try:
        return (await verifier.authenticate(credentials.credentials)).name
    except KeysUnavailable as e:
        raise StarletteHTTPException(503, str(e), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    except TokenRejected as e:
        raise StarletteHTTPException(
            401, str(e), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None


def same_address(vouched: str | None, given: str) -> bool:
    # Addresses are compared without case: providers and people vary it; nobody's mailbox does.
    return vouched is not None and vouched.strip().casefold() == given.strip().casefold()


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
    responses={
        422: {"description": "a field is missing or invalid (problem+json names it)"},
        **problem_answers(
            s401="a frontend's token that fails a check (expired, another issuer or audience, a bad signature)",
            s503="the frontend's identity provider's keys cannot be fetched now (`Retry-After`)",
        ),
        **rate_limits.answers(),
    },
    dependencies=[rate_limits.per_address(rate_limits.WEB_FORM_ADDRESS)],
)
async def open_ticket(
    body: NewTicket,
    runtime: Runtime,
    request: Request,
    response: Response,
    vouched: Annotated[str | None, Depends(vouched_email)],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> TicketAccepted:
    """Open a ticket from the web form. Accepted: triage and SLA follow asynchronously.

    With an `Idempotency-Key`, the same submission twice is one ticket: the repeat answers with the
    first ticket (`Idempotent-Replayed: true`) but no access token, which is only shown once.

    Anonymous, the requester is unproven: a claim of severity 1 reaches the tier lead, not SWAT,
    until they follow the link mailed to them or an agent confirms. A trusted frontend proves its
    signed-in user by sending their token (`Authorization: Bearer`): when its email claim is
    `requester_email`, the ticket opens proven; for another address, it opens unproven.
    """
    # Anyone may post the form: per requester too, so many addresses do not make one requester many.
    rate_limits.check(request, rate_limits.WEB_FORM_REQUESTER, rate_limits.requester_key(str(body.requester_email)))
    settings = runtime.settings
    opening = OpenTicket(
        channel=Channel.WEB,
        subject=body.subject,
        description=body.description,
        requester_email=str(body.requester_email),
        severity=body.severity,
        request_type=body.request_type,
        requester_verified=same_address(vouched, str(body.requester_email)),
    )
    token_key = settings.requester_token_key.get_secret_value()
    prefix = settings.ticket_number_prefix
    if idempotency_key is None:  # nothing else to write with it: no transaction needed
        opened: commands.Opened | commands.Replayed = await commands.open_ticket_now(
            runtime.engine, opening, number_prefix=prefix, clock=runtime.clock, token_key=token_key
        )
    else:
        fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()  # what a repeat must match
        try:
            opened = await commands.open_ticket_once(
                runtime.engine,
                opening,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                number_prefix=prefix,
                clock=runtime.clock,
                token_key=token_key,
            )
        except commands.IdempotencyKeyReused:
            raise Problem(
                422,
                "Idempotency-Key reused",
                "this key was used for a different submission",
                errors=[{"field": "header.idempotency-key", "message": "reused with another body"}],
            ) from None
    if isinstance(opened, commands.Replayed):  # the first submission's ticket
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
        return TicketAccepted(
            ticket_id=opened.ticket_id,
            number=opened.number,
            access_token=None,
            status_url=f"/v1/tickets/{opened.ticket_id}",
        )
    response.headers["Location"] = f"/v1/tickets/{opened.ticket_id}"
    return TicketAccepted(
        ticket_id=opened.ticket_id,
        number=opened.number,
        access_token=opened.access_token,
        status_url=f"/v1/tickets/{opened.ticket_id}",
        requester_verified=opening.requester_verified,
    )


@router.get(
    "/{ticket_id}",
    response_model=TicketView,
    responses={
        200: {
            "description": "the ticket; `ETag` is its version, to send back as `If-Match` with a command",
            "headers": {"ETag": {"description": 'the ticket\'s version, e.g. "7"', "schema": {"type": "string"}}},
        },
        404: {"description": "no such ticket, or not yours"},
    },
)
async def get_ticket(
    ticket_id: str,
    runtime: Runtime,
    caller: TicketCaller,
    response: Response,
    as_of: Annotated[
        AwareDatetime | None,
        Query(description="the ticket as it stood at this instant (RFC 3339 with an offset), folded from its events"),
    ] = None,
) -> TicketView:
    """A ticket and its history, for an agent or for the requester holding its access token.

    The requester sees only what `supportdesk_contract.requester_view` declares public: no internal
    notes, no sealed token, no agent-only fields. With `as_of`, the ticket folded from its events
    up to that instant (the aggregate's own fold) and its history up to then.

    `ETag` is the version shown (`"7"`): a command sent with it as `If-Match` applies only if
    nobody changed the ticket since."""
    try:
        read = await views.ticket(runtime.engine, ticket_id, agent=caller.is_agent, as_of=as_of)
    except views.NotOpenedYet as e:
        raise Problem(404, "Not Found", f"ticket {ticket_id} had not been opened as of {e.as_of.isoformat()}") from None
    fields = {k: v for k, v in read.fields.items() if k in TicketView.model_fields}
    response.headers["ETag"] = etag(read.fields["version"])
    return TicketView(
        **fields,
        history=[
            HistoryEntry(event_type=e["event_type"], occurred_at=e["occurred_at"], payload=e["payload"])
            for e in read.history
        ],
        attachments=listing(ticket_id, read.history),
    )
