"""The traffic of a scenario: its scale, what was sent and how intake answered, and how a web,
email or phone ticket is posted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from email.message import EmailMessage

import httpx

from supportdesk_contract.clock import SystemClock

INBOUND_AUTH = ("mta", "chaos-pipe-secret")
PHONE_SECRET = "chaos-pbx-secret"
CHANNELS = ("web", "email", "phone")


@dataclass(frozen=True)
class Scale:
    """How much traffic a scenario drives: bounded (inside `make test`) or full (`make chaos`)."""

    tickets: int
    rate: float  # tickets a second
    settle: float  # seconds to wait for convergence before calling something lost or stuck

    @property
    def duration(self) -> float:
        return self.tickets / self.rate


BOUNDED = Scale(tickets=24, rate=3.0, settle=30.0)
FULL = Scale(tickets=90, rate=4.0, settle=120.0)


@dataclass
class Sent:
    channel: str
    at: float  # monotonic seconds since the stream began
    status: int | None  # None: no answer (refused, reset, timed out)
    ticket_id: str | None = None
    requester_email: str | None = None
    responded: bool = False  # an agent's public response was accepted: the requester gets one mail

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.ticket_id is not None


def response_text(sent: Sent) -> str:
    """The agent's response to a ticket, unique, so its mail can be told from every other."""
    return f"We are looking into it (reference {sent.ticket_id})."


async def post_ticket(
    http: httpx.AsyncClient, url: str, channel: str, i: int, sent: Sent, run_id: str
) -> httpx.Response:
    """Ticket `i` of the stream through `channel`; `sent` gets the requester's address."""
    tag = f"{run_id}-{i}"
    if channel == "web":
        sent.requester_email = f"web-{tag}@customer.example"
        return await http.post(
            f"{url}/v1/tickets",
            json={
                "requester_email": sent.requester_email,
                "subject": f"Export fails ({tag})",
                "description": "The CSV export returns an empty file.",
                "severity": 2 + i % 3,
            },
        )
    if channel == "email":
        sent.requester_email = f"mail-{tag}@harbor.example"
        msg = EmailMessage()
        msg["From"], msg["To"] = sent.requester_email, "support@supportdesk.example"
        msg["Subject"], msg["Message-ID"] = f"Feed down ({tag})", f"<chaos-{tag}@harbor.example>"
        msg.set_content("The nightly feed did not run.")
        return await http.post(f"{url}/v1/inbound/email", content=bytes(msg), headers=inbound_headers())
    call = json.dumps(
        {
            "call_id": f"chaos-{tag}",
            "caller_number": f"+1 415 555 {i % 10000:04d}",
            "agent": "Sam",
            "summary": f"Dashboards down ({tag})",
            "priority": "normal",
        }
    ).encode()
    return await http.post(f"{url}/v1/inbound/phone", content=call, headers=phone_headers(call))


def inbound_headers() -> dict[str, str]:
    auth = base64.b64encode(":".join(INBOUND_AUTH).encode()).decode()
    return {"Content-Type": "message/rfc822", "Authorization": f"Basic {auth}"}


def phone_headers(body: bytes) -> dict[str, str]:
    ts = str(int(SystemClock().now().timestamp()))
    digest = hmac.new(PHONE_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Supportdesk-Timestamp": ts,
        "X-Supportdesk-Signature": f"sha256={digest}",
    }
