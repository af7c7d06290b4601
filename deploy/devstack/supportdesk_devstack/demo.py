"""Demo tickets for `devstack run`: a handful of realistic requests from the demo customers
(deploy/demo/customers.yaml), sent through intake's real web, email and phone endpoints so that
every service processes them, once per data dir.

Idempotent twice over: every submission carries a deterministic key (web `Idempotency-Key`, the
email's Message-ID, the phone call id), so a run interrupted half-way and started again opens no
ticket twice; an agent reply is only sent to a ticket whose history has none; and a marker file in
the data dir records that seeding finished, so later runs do not send anything at all.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx

from supportdesk_contract.clock import Clock
from supportdesk_service.signing import hmac_hex

MARKER = "demo-seeded"
# `SUPPORTDESK_DEMO=0` (or `devstack run --no-demo`) starts an empty desk.
ENV_SWITCH = "SUPPORTDESK_DEMO"


@dataclass(frozen=True)
class DemoTicket:
    key: str  # deterministic: the idempotency key / Message-ID / call id
    channel: str  # web | email | phone
    requester: str  # an address of a demo customer's domain (or the caller's phone for phone)
    subject: str
    description: str
    severity: int | None = None
    request_type: str | None = None
    priority: str | None = None  # phone only: the priority the agent taking the call suggests
    caller_name: str | None = None
    agent_reply: str | None = None  # a first public response from an agent, sent after opening
    replicated: str | None = None  # then the issue reproduced (analysis: the resolution clock starts)


DEMO_TICKETS: tuple[DemoTicket, ...] = (
    DemoTicket(
        key="demo-web-metro-health-exports",
        channel="web",
        requester="data.team@metro-health.example",
        subject="Dashboard exports return HTTP 500 since this morning",
        description="Every CSV export from the immunisation dashboard fails with a server error since "
        "about 07:40. The weekly report to the state is due tomorrow.",
        severity=1,
        request_type="problem",
        agent_reply="We are on it: the export workers are our first suspect.",
        replicated="Reproduced: exports over 50,000 rows fail in the CSV writer since last night's release.",
    ),
    DemoTicket(
        key="<demo-email-state-transit-feed@state-transit.example>",
        channel="email",
        requester="ops@state-transit.example",
        subject="Real-time arrivals feed stopped updating",
        description="Hi,\n\nthe GTFS-realtime feed has served the same snapshot for two hours. Riders "
        "see stale arrival times on the platform screens.\n\nThanks,\nJordan (State Transit ops)",
    ),
    DemoTicket(
        key="demo-call-lakeside-login",
        channel="phone",
        requester="+1 206 555 0141",
        caller_name="Ana Flores",
        subject="Staff cannot log in to the records portal",
        description="Caller reports that every county staff member gets 'invalid session' after the "
        "single sign-on redirect. Started after their identity provider certificate rotation.",
        priority="high",
        severity=2,
    ),
    DemoTicket(
        key="demo-web-harbor-city-refresh",
        channel="web",
        requester="open.data@harbor-city.example",
        subject="How do I schedule a nightly dataset refresh?",
        description="We publish the parking citations dataset by hand every morning. Is there a way "
        "to have it refresh from our database each night?",
        severity=4,
        request_type="question",
    ),
    DemoTicket(
        key="<demo-email-orbital-sync@orbital-qa.example>",
        channel="email",
        requester="lead@orbital-qa.example",
        subject="Test runs no longer sync to Jira",
        description="Since Monday, test runs recorded in SpiraTest are not pushed to our Jira project. "
        "The data sync log shows 'unauthorized' every 5 minutes.",
        agent_reply="Thanks for the log excerpt. Could you confirm whether the Jira API token was rotated "
        "on Monday? We are checking the sync plugin meanwhile.",
    ),
    DemoTicket(
        key="demo-call-prairie-payments",
        channel="phone",
        requester="+1 316 555 0170",
        caller_name="Town Clerk",
        subject="Permit payments time out at checkout",
        description="Residents cannot pay building permit fees: the payment page spins and times out. "
        "The clerk's office is taking payments by phone meanwhile.",
        priority="urgent",
        severity=1,
    ),
    DemoTicket(
        key="demo-web-northwind-parquet",
        channel="web",
        requester="analytics@northwind-storage.example",
        subject="Feature request: export query results as Parquet",
        description="Our analysts load exports into Spark; Parquet would save a conversion step.",
        severity=4,
        request_type="feature_request",
    ),
    DemoTicket(
        key="<demo-email-okl-harvest@okl.example>",
        channel="email",
        requester="catalog@okl.example",
        subject="CKAN harvest job fails on the university source",
        description="The nightly harvest of the university catalogue stops at about 40% with a "
        "timeout. Other sources harvest normally.",
    ),
)


@dataclass(frozen=True)
class Secrets:
    """What the development stack gives intake: the agent key and the inbound channels' secrets."""

    agent_key: str
    inbound_basic_auth: str  # user:password for POST /v1/inbound/email
    phone_webhook_secret: str


def enabled(flag_no_demo: bool, env: dict[str, str]) -> bool:
    return not flag_no_demo and env.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def seeded(data_dir: Path) -> bool:
    return (data_dir / MARKER).exists()


def _raw_email(t: DemoTicket, clock: Clock) -> bytes:
    msg = EmailMessage()
    msg["From"] = t.requester
    msg["To"] = "support@supportdesk.example"
    msg["Subject"] = t.subject
    msg["Message-ID"] = t.key
    msg["Date"] = format_datetime(clock.now())
    msg.set_content(t.description)
    return msg.as_bytes()


def _open(client: httpx.Client, t: DemoTicket, secrets: Secrets, clock: Clock) -> str:
    """Send one demo ticket through its channel; the ticket id intake answers (first time or replay)."""
    if t.channel == "web":
        body: dict[str, Any] = {"requester_email": t.requester, "subject": t.subject, "description": t.description}
        if t.severity is not None:
            body["severity"] = t.severity
        if t.request_type is not None:
            body["request_type"] = t.request_type
        r = client.post("/v1/tickets", json=body, headers={"Idempotency-Key": t.key})
    elif t.channel == "email":
        auth = base64.b64encode(secrets.inbound_basic_auth.encode()).decode()
        r = client.post(
            "/v1/inbound/email",
            content=_raw_email(t, clock),
            headers={"Content-Type": "message/rfc822", "Authorization": f"Basic {auth}"},
        )
    elif t.channel == "phone":
        call = {
            "call_id": t.key,
            "caller_number": t.requester,
            "caller_name": t.caller_name,
            "agent": "First-level support (demo)",
            "subject": t.subject,
            "summary": t.description,
            "priority": t.priority,
            "severity": t.severity,
        }
        raw = json.dumps(call).encode()
        timestamp = str(int(clock.now().timestamp()))
        signature = "sha256=" + hmac_hex(secrets.phone_webhook_secret, timestamp.encode() + b"." + raw)
        r = client.post(
            "/v1/inbound/phone",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "X-Supportdesk-Timestamp": timestamp,
                "X-Supportdesk-Signature": signature,
            },
        )
    else:
        raise ValueError(f"unknown demo channel {t.channel!r}")
    r.raise_for_status()
    ticket_id = r.json().get("ticket_id")
    if not isinstance(ticket_id, str):
        raise RuntimeError(f"intake opened no ticket for demo {t.key}: {r.text}")
    return ticket_id


def _agent_once(
    client: httpx.Client, ticket_id: str, secrets: Secrets, event_type: str, path: str, body: dict[str, Any]
) -> bool:
    """An agent's command, unless the ticket's history already has its event (a run cut short)."""
    auth = {"Authorization": f"Bearer {secrets.agent_key}"}
    ticket = client.get(f"/v1/tickets/{ticket_id}", headers=auth)
    ticket.raise_for_status()
    if any(e["event_type"] == event_type for e in ticket.json()["history"]):
        return False
    client.post(f"/v1/tickets/{ticket_id}/{path}", json=body, headers=auth).raise_for_status()
    return True


def seed(intake_url: str, secrets: Secrets, data_dir: Path, clock: Clock, *, timeout: float = 30.0) -> list[str]:
    """Open the demo tickets (and their agent replies) through intake; the ticket ids, in order.
    Writes the marker when all went through; callers skip seeding when `seeded(data_dir)`."""
    ids: list[str] = []
    with httpx.Client(base_url=intake_url, timeout=timeout) as client:
        for t in DEMO_TICKETS:
            ticket_id = _open(client, t, secrets, clock)
            if t.agent_reply:
                reply = {"body": t.agent_reply, "public": True}
                _agent_once(client, ticket_id, secrets, "AgentResponded", "responses", reply)
            if t.replicated:
                _agent_once(client, ticket_id, secrets, "IssueReplicated", "replication", {"note": t.replicated})
            ids.append(ticket_id)
    (data_dir / MARKER).write_text("\n".join(ids) + "\n")
    return ids
