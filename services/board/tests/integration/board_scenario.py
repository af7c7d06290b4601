"""What the board's integration tests play: the six other services' events written to Kafka for a
handful of tickets (`scenario`: the desk's people and who holds which ticket too), when the board
has folded them all (`settled`), and whether its kept-in-step open counts agree with a count over
its rows."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from supportdesk_contract.catalogue import (
    PEOPLE_KEY,
    AgentResponded,
    AssignmentReason,
    Availability,
    ClockKind,
    EscalationAcknowledged,
    Event,
    NotificationSent,
    Priority,
    SlaAtRisk,
    SlaBreached,
    SlaMet,
    TicketEscalated,
)
from supportdesk_contract.clock import ManualClock, SystemClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, produce
from supportdesk_devstack.testing.events import (
    GOLD,
    agent_profile,
    assigned,
    availability,
    opened,
    started,
    team_profile,
    triaged,
    unassigned,
)
from supportdesk_messaging.db import create_engine

NOW = SystemClock().now()  # the board process runs on the system clock; due instants are set around it
M = timedelta(minutes=1)
OPENED = {"opened_at": NOW - 30 * M, **GOLD}
TRIAGED = {"rule": "web-default", "opened_at": NOW - 30 * M, **GOLD}
STARTED = {"started_at": NOW - 30 * M, "target_seconds": 4 * 3600, "calendar": "pacific"}


async def send(space: Sandbox, ticket: str, topic: Topic, producer: str, *events: Event) -> list[bytes]:
    envs = [
        new_envelope(e, ticket_id=ticket, producer=producer, clock=ManualClock(NOW + i * timedelta(seconds=1)))
        for i, e in enumerate(events)
    ]
    encoded = [encode(env)[:2] for env in envs]
    await produce(space, topic, encoded)
    return [value for _, value in encoded if value is not None]


async def scenario(space: Sandbox) -> dict[str, str]:
    """Five tickets in two queues; one breached and escalated, one at risk, one answered."""
    ids = {name: f"tkt-{name}-{uuid.uuid4().hex[:6]}" for name in ("export", "login", "billing", "slow", "invoice")}
    specs = [
        ("export", "TKT-101", "Nightly exports fail", "ann@acme.example", Priority.HIGH, "technical", NOW + 10 * M),
        ("login", "TKT-102", "Cannot log in with SSO", "bo@acme.example", Priority.URGENT, "technical", NOW - 5 * M),
        (
            "billing",
            "TKT-103",
            "Invoice shows the wrong plan",
            "cy@globex.example",
            Priority.NORMAL,
            "billing",
            NOW + 3 * 60 * M,
        ),
        ("slow", "TKT-104", "Dashboard is slow", "di@globex.example", Priority.LOW, "technical", NOW + 5 * 60 * M),
        ("invoice", "TKT-105", "Duplicate invoice", "ed@acme.example", Priority.NORMAL, "billing", NOW + 2 * 60 * M),
    ]
    for name, number, subject, email, priority, queue, due in specs:
        customer = email.split("@")[1].split(".")[0]
        # Triage and SLA first for some: the board must not depend on topic order.
        if name in ("login", "slow"):
            await send(space, ids[name], Topic.SLA, "sla-clock", started(due_at=due, **STARTED))
            await send(space, ids[name], Topic.TRIAGE, "triage", triaged(priority=priority, queue=queue, **TRIAGED))
            await send(
                space,
                ids[name],
                Topic.LIFECYCLE,
                "intake",
                opened(number=number, subject=subject, requester_email=email, customer_id=customer, **OPENED),
            )
        else:
            await send(
                space,
                ids[name],
                Topic.LIFECYCLE,
                "intake",
                opened(number=number, subject=subject, requester_email=email, customer_id=customer, **OPENED),
            )
            await send(space, ids[name], Topic.TRIAGE, "triage", triaged(priority=priority, queue=queue, **TRIAGED))
            await send(space, ids[name], Topic.SLA, "sla-clock", started(due_at=due, **STARTED))
    login = ids["login"]
    await send(space, login, Topic.SLA, "sla-clock", SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=NOW - 5 * M))
    await send(
        space,
        login,
        Topic.ESCALATION,
        "escalation",
        TicketEscalated(
            level=2, route="account_manager", reason="first response breached", recipients=("am@sd.example",)
        ),
        EscalationAcknowledged(level=2, by="am@sd.example"),
    )
    await send(
        space,
        login,
        Topic.NOTIFICATIONS,
        "notifier",
        NotificationSent(
            cause_event_id=uuid.uuid4(), recipient="am@sd.example", channel="email", template="escalated", sent_at=NOW
        ),
    )
    await send(
        space, ids["invoice"], Topic.LIFECYCLE, "intake", AgentResponded(agent="bob", body="hi", confirms_receipt=True)
    )
    await send(
        space,
        ids["invoice"],
        Topic.SLA,
        "sla-clock",
        SlaMet(clock=ClockKind.FIRST_RESPONSE, due_at=NOW + 2 * 60 * M, elapsed_business_seconds=600),
    )
    await send(
        space,
        ids["export"],
        Topic.SLA,
        "sla-clock",
        SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=75, due_at=NOW + 10 * M),
    )
    await people(space, ids)
    return ids


async def people(space: Sandbox, ids: dict[str, str]) -> None:
    """Who works here (tier-1: pat, the lead, serving technical; billing: sam; lea in no team)
    and who holds what: pat the breached login and the at-risk export, tier-1's pool the slow
    dashboard, sam the invoice (claimed) and, until sam went away, the billing ticket."""
    await send(
        space,
        PEOPLE_KEY,
        Topic.PEOPLE,
        "assignment",
        team_profile("tier-1", name="Tier 1", members=("pat",), lead="pat", queues=("technical",)),
        team_profile("billing-team", name="Billing", members=("sam",), queues=("billing",)),
        agent_profile("pat", name="Pat Lee", teams=("tier-1",), capacity=6),
        agent_profile("sam", name="Sam Roe", teams=("billing-team",), capacity=4),
        agent_profile("lea", name="Lea Kim", capacity=3),
        availability("pat", Availability.ONLINE),
        availability("sam", Availability.AWAY, Availability.ONLINE),
    )
    rule = "least loaded of 2 on shift: pat 0/6, sam 0/4"
    await send(space, ids["login"], Topic.ASSIGNMENT, "assignment", assigned("pat", "tier-1", explanation=rule))
    await send(space, ids["export"], Topic.ASSIGNMENT, "assignment", assigned("pat", "tier-1", explanation=rule))
    await send(space, ids["slow"], Topic.ASSIGNMENT, "assignment", assigned(None, "tier-1"))
    await send(
        space,
        ids["invoice"],
        Topic.ASSIGNMENT,
        "assignment",
        assigned("sam", "billing-team", by="sam", reason=AssignmentReason.CLAIMED),
    )
    await send(
        space,
        ids["billing"],
        Topic.ASSIGNMENT,
        "assignment",
        assigned("sam", "billing-team"),
        unassigned("sam", "billing-team", reason=AssignmentReason.AWAY, explanation="away for 15 minutes"),
    )


async def list_ids(board: httpx.AsyncClient, **params: Any) -> list[str]:
    r = await board.get("/v1/board/tickets", params=params)
    assert r.status_code == 200, r.text
    return [t["ticket_id"] for t in r.json()["tickets"]]


async def settled(board: httpx.AsyncClient, ids: dict[str, str]) -> bool:
    """Every ticket in, with its number (lifecycle), queue (triage) and the last events applied."""
    r = await board.get("/v1/board/tickets", params={"limit": 200})
    rows = {t["ticket_id"]: t for t in r.json()["tickets"]} if r.status_code == 200 else {}
    mine = [rows.get(i) for i in ids.values()]
    return (
        all(t is not None and t["number"] and t["queue"] for t in mine)
        and rows[ids["login"]]["notifications_sent"] == 1
        and rows[ids["login"]]["escalation_acknowledged_by"] is not None
        and rows[ids["invoice"]]["status"] == "acknowledged"
        and rows[ids["invoice"]]["clocks"]["first_response"]["met"] is True
        and rows[ids["invoice"]]["assignee_name"] == "Sam Roe"  # the people and the assignments too
        and rows[ids["billing"]]["unassigned_since"] is not None
        and rows[ids["billing"]]["team"] == "billing-team"
        and rows[ids["export"]]["at_risk"] is True
    )


async def kept_and_counted(space: Sandbox, kept_sql: str, counted_sql: str) -> tuple[list[tuple[Any, ...]], ...]:
    """What a kept-in-step table holds, and the same figures counted over the rows themselves."""
    engine = create_engine(space.servers.database_url, space.database("board"))
    try:
        async with engine.connect() as conn:
            kept = [tuple(r) for r in (await conn.execute(text(kept_sql))).all()]
            counted = [tuple(r) for r in (await conn.execute(text(counted_sql))).all()]
    finally:
        await engine.dispose()
    return kept, counted


async def _counts_agree(space: Sandbox) -> None:
    """The summary's kept-in-step counts equal a count over the rows themselves."""
    kept, counted = await kept_and_counted(
        space,
        "SELECT * FROM board_open_counts ORDER BY 1, 2, 3, 4, 5",
        "SELECT coalesce(queue, ''), coalesce(priority, ''), status, breached, escalation_level,"
        " count(*) FROM board_tickets WHERE is_open GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
    )
    assert kept == counted
