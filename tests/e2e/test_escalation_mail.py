"""A breach escalates to the account manager, an unacknowledged hour later to the executive, and
each person is mailed once (read back from a real SMTP server). escalation and notifier run in
process on the real broker and database; escalation's time is a ManualClock."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from escalation.service_layer.handlers import HANDLERS as ESCALATION
from escalation.service_layer.workers import workers as escalation_workers
from escalation.settings import Settings as EscalationSettings
from notifier.adapters.routing_file import load_routing
from notifier.adapters.templates import Templates
from notifier.service_layer.handlers import Notifier, handlers
from notifier.service_layer.workers import workers as notifier_workers
from notifier.settings import Settings as NotifierSettings
from supportdesk_contract.catalogue import Channel, ClockKind, Priority, SlaBreached
from supportdesk_contract.clock import ManualClock, SystemClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, SmtpSink, events, eventually, produce
from supportdesk_service.migrations import migrate
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime

pytestmark = pytest.mark.e2e
T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)

DIRECTORY = """
tier_leads: {technical: [lead@supportdesk.example]}
account_managers: {acme: [am@supportdesk.example]}
executives: [exec@supportdesk.example]
swat: [swat@supportdesk.example]
climb_after_minutes: {1: 30, 2: 60}
"""


@pytest.fixture
async def desk(space: Sandbox, tmp_path: Path) -> AsyncIterator[tuple[ServiceRuntime, ManualClock, SmtpSink]]:
    inbox = SmtpSink()
    smtp = inbox.controller
    smtp.start()
    (tmp_path / "directory.yaml").write_text(DIRECTORY)
    common = dict(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
    )
    esc_settings = EscalationSettings(
        **common, database_name=space.database("escalation"), directory_file=str(tmp_path / "directory.yaml")
    )
    not_settings = NotifierSettings(
        **common, database_name=space.database("notifier"), smtp_port=inbox.port, retry_base_seconds=0.05
    )
    await asyncio.to_thread(migrate, esc_settings, "escalation:migrations")
    await asyncio.to_thread(migrate, not_settings, "notifier:migrations")
    from escalation.entrypoints.app import load_directory_file

    clock = ManualClock(T0)
    escalation = ServiceRuntime(
        ServiceDefinition(
            name="escalation",
            settings=esc_settings,
            handlers=ESCALATION,
            clock=clock,
            on_start=[load_directory_file],
            workers=escalation_workers(esc_settings),
        )
    )
    notifier = ServiceRuntime(
        ServiceDefinition(
            name="notifier",
            settings=not_settings,
            clock=SystemClock(),
            workers=notifier_workers(not_settings),
            handlers=handlers(Notifier(not_settings, load_routing(""), Templates())),
        )
    )
    await escalation.start()
    await notifier.start()
    yield escalation, clock, inbox
    await notifier.stop()
    await escalation.stop()
    smtp.stop()


async def level(runtime: ServiceRuntime, ticket: str) -> int | None:
    async with runtime.engine.connect() as conn:
        return (
            await conn.execute(text("SELECT level FROM ticket_escalations WHERE ticket_id = :t"), {"t": ticket})
        ).scalar()


async def test_breach_to_account_manager_then_executive_each_mailed_once(
    space: Sandbox, desk: tuple[ServiceRuntime, ManualClock, SmtpSink]
) -> None:
    escalation, clock, inbox = desk
    ticket, c = "esc-1", ManualClock(T0)
    by_phone = {"channel": Channel.PHONE, "opened_at": T0}
    opened = events.envelope(
        events.opened(number="TKT-9", customer_id="acme", subject="Down", requester_phone="+15550100", **by_phone),
        ticket,
        producer="intake",
        clock=c,
    )
    triaged = events.envelope(
        events.triaged(priority=Priority.HIGH, severity=2, swat=True, **by_phone), ticket, producer="triage", clock=c
    )
    breach = new_envelope(
        SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=T0), ticket_id=ticket, producer="sla-clock", clock=c
    )
    another = new_envelope(
        SlaBreached(clock=ClockKind.RESOLUTION, due_at=T0), ticket_id=ticket, producer="sla-clock", clock=c
    )
    await produce(space, Topic.LIFECYCLE, [encode(opened)[:2]])
    await produce(space, Topic.TRIAGE, [encode(triaged)[:2]])
    await produce(space, Topic.SLA, [encode(breach)[:2], encode(breach)[:2], encode(another)[:2]])

    async def mailed(*who: str) -> bool:
        return sorted(set(inbox.recipients)) == sorted(who)

    await eventually(
        lambda: mailed("am@supportdesk.example", "swat@supportdesk.example"), what="the account manager and SWAT mailed"
    )
    assert await level(escalation, ticket) == 2
    clock.set(T0 + timedelta(minutes=61))  # nobody acknowledged level 2 within its hour
    await eventually(
        lambda: mailed("am@supportdesk.example", "swat@supportdesk.example", "exec@supportdesk.example"),
        what="the executive mailed",
    )
    assert await level(escalation, ticket) == 3
    clock.set(T0 + timedelta(hours=5))  # the top: nothing climbs further
    await produce(space, Topic.SLA, [encode(breach)[:2]])  # and a redelivered trigger changes nothing

    async def settled() -> bool:
        async with escalation.engine.connect() as conn:
            return (await conn.execute(text("SELECT count(*) FROM events WHERE published_at IS NULL"))).scalar() == 0

    await eventually(settled, what="escalation's outbox drained")
    assert sorted(inbox.recipients) == [
        "am@supportdesk.example",
        "exec@supportdesk.example",
        "swat@supportdesk.example",
    ]
    subjects = [m["Subject"] for m in inbox.messages]
    assert any("level 2" in s for s in subjects) and any("level 3" in s for s in subjects)
    async with escalation.engine.connect() as conn:
        kinds = [
            r[0]
            for r in (
                await conn.execute(
                    text("SELECT event_type FROM events WHERE ticket_id = :t ORDER BY position"), {"t": ticket}
                )
            ).all()
        ]
    # Level 2 and SWAT in whichever order the topics arrived, then level 3.
    assert sorted(kinds[:2]) == ["SwatEngaged", "TicketEscalated"] and kinds[2:] == ["TicketEscalated"]
