"""A requester proves the address they gave is theirs: the one-time link mailed with their
acknowledgement (docs/operations/security.md#claims-from-strangers).

The link opens a page (GET) that changes nothing, so a mail scanner fetching it confirms nobody;
its button POSTs the token, which the link carries in its fragment (never sent to a server, so no
access log or proxy sees it)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from supportdesk_service import rate_limits
from supportdesk_service.problems import Problem, problem_answers

from ...domain.ticket import TransitionRefused, VerificationExpired
from ...service_layer import commands
from . import Runtime

router = APIRouter(prefix="/v1/tickets/{ticket_id}/requester-verification", tags=["requester verification"])

# Static: it echoes nothing of the request (the ticket id and the token are read by the script).
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Confirm your request</title></head>
<body>
<h1>Confirm it is you</h1>
<p>You opened a support request with this address. Confirm it, so an urgent request reaches the
people on call.</p>
<button id="confirm" type="button">Confirm</button>
<p id="answer" role="status"></p>
<script>
document.getElementById("confirm").addEventListener("click", async () => {
  const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
  const answer = document.getElementById("answer");
  const r = await fetch(location.pathname, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({token})
  });
  const body = await r.json().catch(() => ({}));
  answer.textContent = r.ok ? "Thank you: confirmed." : (body.detail || "This link cannot confirm the request.");
});
</script>
</body></html>
"""
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; connect-src 'self'",
}


class VerificationIn(BaseModel):
    token: str = Field(min_length=1, max_length=200, description="the token in the link's fragment (`#token=...`)")


class VerificationResult(BaseModel):
    ticket_id: str
    requester_verified: bool


@router.get("", response_class=HTMLResponse, responses={200: {"content": {"text/html": {}}}})
async def confirm_page(ticket_id: str) -> HTMLResponse:
    """The page the mailed link opens: a button that sends the token. Fetching it changes nothing."""
    return HTMLResponse(PAGE, headers=PAGE_HEADERS)


@router.post(
    "",
    response_model=VerificationResult,
    responses={
        **problem_answers(
            s403="not this ticket's verification token (another ticket's, a made-up one, or no such ticket)",
            s409="the requester is proven already: the link was used",
            s410="the link has expired",
            s422="the token is missing or malformed",
        ),
        **rate_limits.answers(),
    },
    # Public like the web form: one budget per address for both, and the ticket's requester actions.
    dependencies=[rate_limits.per_address(rate_limits.WEB_FORM_ADDRESS)],
)
async def verify(ticket_id: str, body: VerificationIn, runtime: Runtime, request: Request) -> VerificationResult:
    """The requester's one-time token: the ticket records `RequesterVerified`, and their claims
    (severity, an emergency contact's address) count from then on. Nothing is recorded otherwise."""
    rate_limits.check(request, rate_limits.REQUESTER_ACTIONS, f"ticket:{ticket_id}")
    hours = runtime.settings.requester_verification_hours
    field = [{"field": "body.token", "message": ""}]
    try:
        await commands.verify_requester(runtime.engine, ticket_id, body.token, runtime.clock, timedelta(hours=hours))
    except (commands.WrongVerificationToken, commands.TicketNotFound):
        # One answer whether the ticket exists or not: ids reveal nothing.
        field[0]["message"] = "not this ticket's verification token"
        raise Problem(
            403, "Forbidden", "this token does not verify the requester of this ticket", errors=field
        ) from None
    except VerificationExpired:
        field[0]["message"] = f"expired ({hours:g} hours after the ticket opened)"
        raise Problem(410, "Gone", "this verification link has expired; ask support to confirm", errors=field) from None
    except TransitionRefused:
        field[0]["message"] = "used already"
        raise Problem(409, "Conflict", "the requester of this ticket is proven already", errors=field) from None
    return VerificationResult(ticket_id=ticket_id, requester_verified=True)
