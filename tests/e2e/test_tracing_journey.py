"""One trace follows a breached ticket: the web form's request in intake, the relays' publishes and
every consumer's handler across the real broker, sla-clock's timer firing the breach, escalation's
handling of it, and the notifier's handler and SMTP send of the escalation mail (to a real SMTP
server).

The five services run in this process (their real apps, lifespans, relays, consumers and workers,
each with its own database): so one in-memory exporter sees every span, and sla-clock's time is a
ManualClock the test moves past the first-response target. Nothing carries the trace but the
outbox rows and the Kafka headers: the services share no context in memory (each loop runs in a
task started with no span current)."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from escalation.entrypoints.app import build_app as escalation_app
from escalation.settings import Settings as EscalationSettings
from intake.entrypoints.app import build_app as intake_app
from intake.settings import Settings as IntakeSettings
from notifier.entrypoints.app import build_app as notifier_app
from notifier.settings import Settings as NotifierSettings
from sla_clock.entrypoints.app import build_app as sla_app
from sla_clock.settings import Settings as SlaSettings
from supportdesk_contract.clock import ManualClock, SystemClock
from supportdesk_devstack.testing import Sandbox, SmtpSink, eventually
from supportdesk_observability import tracing
from supportdesk_service.migrations import migrate
from triage.entrypoints.app import build_app as triage_app
from triage.settings import Settings as TriageSettings

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)  # Monday 09:00 Pacific: data-insights' hours are open
LEAD = "lead@supportdesk.example"
DIRECTORY = f"""
tier_leads: {{technical: [{LEAD}], first-level: [{LEAD}]}}
executives: [exec@supportdesk.example]
swat: [swat@supportdesk.example]
"""


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    assert not tracing.enabled(), "tracing is on from the environment (OTEL_TRACES_EXPORTER): this test sets its own"
    exporter = InMemorySpanExporter()
    # Before the apps are built: create_app then finds tracing on and instruments each app.
    assert tracing.configure("supportdesk-e2e", processor=SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown()


@pytest.fixture
async def desk(
    space: Sandbox, tmp_path: Path, spans: InMemorySpanExporter
) -> AsyncIterator[tuple[httpx.AsyncClient, ManualClock, SmtpSink]]:
    sink = SmtpSink()
    sink.controller.start()
    (tmp_path / "directory.yaml").write_text(DIRECTORY)
    common = space.env()
    clock = ManualClock(T0)  # intake, triage and sla-clock: sla-clock's scheduler breaches when it moves
    intake = IntakeSettings(**common, database_name=space.database("intake"))
    triage = TriageSettings(**common, database_name=space.database("triage"))
    sla = SlaSettings(**common, database_name=space.database("sla-clock"))
    escalation = EscalationSettings(
        **common, database_name=space.database("escalation"), directory_file=str(tmp_path / "directory.yaml")
    )
    notifier = NotifierSettings(
        **common, database_name=space.database("notifier"), smtp_port=sink.port, retry_base_seconds=0.05
    )
    for package, s in [
        ("intake", intake),
        ("triage", triage),
        ("sla_clock", sla),
        ("escalation", escalation),
        ("notifier", notifier),
    ]:
        await asyncio.to_thread(migrate, s, f"{package}:migrations")
    apps: list[FastAPI] = [
        intake_app(intake, clock),
        triage_app(triage, clock),
        sla_app(sla, clock),
        escalation_app(escalation, ManualClock(T0)),
        notifier_app(notifier, SystemClock()),
    ]
    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=apps[0])
        web = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://intake"))
        yield web, clock, sink
    sink.controller.stop()


def ancestry(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str] | None:
    """The span's name and its ancestors' up to the root; None if a parent is not (yet) exported."""
    names = [span.name]
    while span.parent is not None:
        if span.parent.span_id not in by_id:
            return None
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


def in_order(wanted: list[str], names: list[str]) -> bool:
    it = iter(names)
    return all(any(n == w or (w.endswith("*") and n.startswith(w[:-1])) for n in it) for w in wanted)


async def test_one_trace_follows_a_breached_ticket_from_the_request_to_the_escalation_mail(
    space: Sandbox, spans: InMemorySpanExporter, desk: tuple[httpx.AsyncClient, ManualClock, SmtpSink]
) -> None:
    web, clock, sink = desk
    accepted = await web.post(
        "/v1/tickets",
        json={
            "requester_email": "dana@customer.example",
            "subject": "Dashboard export fails",
            "description": "Export to CSV returns an empty file since this morning.",
            "severity": 2,
        },
    )
    assert accepted.status_code == 202, accepted.text
    ticket_id = accepted.json()["ticket_id"]

    def finished(name: str) -> list[ReadableSpan]:
        return [
            s
            for s in spans.get_finished_spans()
            if s.name == name and (s.attributes or {}).get("supportdesk.ticket_id") == ticket_id
        ]

    async def ready_for_the_breach() -> bool:
        # The clock runs, escalation knows the queue, the notifier knows the ticket: then time moves.
        return all(
            finished(name)
            for name in (
                "sla-clock handle TicketOpened",
                "sla-clock handle TicketTriaged",
                "escalation handle TicketTriaged",
                "notifier handle TicketOpened",
            )
        )

    await eventually(ready_for_the_breach, timeout=60, what="the ticket opened and triaged everywhere")
    clock.set(T0 + timedelta(hours=8))  # past the 4 business hours of Basic x High: the scheduler breaches

    async def breach_mailed() -> ReadableSpan | None:
        by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
        for mail in finished("notifier send email"):
            if (mail.attributes or {}).get("supportdesk.template") != "escalated":
                continue
            chain = ancestry(mail, by_id)
            if chain is not None and "escalation handle SlaBreached" in chain:
                return mail
        return None

    mail = await eventually(breach_mailed, timeout=90, what="the escalation mail of the breach sent")
    assert LEAD in sink.recipients  # the SMTP server received it

    by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    chain = ancestry(mail, by_id)
    assert chain is not None
    request = by_id[mail.context.span_id]
    while request.parent is not None:
        request = by_id[request.parent.span_id]
    # The root is intake's HTTP request span (FastAPI instrumentation), and the mail is in its trace.
    assert request.kind is SpanKind.SERVER and request.name == "POST /v1/tickets", chain
    assert mail.context.trace_id == request.context.trace_id
    # Each hop, from the mail back to the request: notifier <- escalation <- sla-clock's timer <-
    # sla-clock's handler <- ... <- intake; every Kafka hop a publish span between two handlers.
    topic = space.prefix + "tickets."
    assert in_order(
        [
            "notifier send email",
            "notifier handle TicketEscalated",
            f"send {topic}escalation",
            "escalation handle SlaBreached",
            f"send {topic}sla",
            "sla-clock fire first_response",
            "sla-clock handle Ticket*",
            f"send {topic}*",
            "POST /v1/tickets",
        ],
        chain,
    ), chain
    # Triage, too, is in the one trace: its handler is a child of intake's publish, its decision's
    # publish is the parent of sla-clock's and escalation's handling of TicketTriaged.
    [triaged] = finished("triage handle TicketOpened")
    assert triaged.context.trace_id == request.context.trace_id
    assert ancestry(triaged, by_id) == ["triage handle TicketOpened", f"send {topic}lifecycle", "POST /v1/tickets"]
    [sla_triaged] = finished("sla-clock handle TicketTriaged")
    sla_chain = ancestry(sla_triaged, by_id)
    assert sla_chain is not None and sla_chain[1:3] == [f"send {topic}triage", "triage handle TicketOpened"]
    handling = {
        s.name.split(" handle ")[0]
        for s in spans.get_finished_spans()
        if s.context.trace_id == request.context.trace_id and " handle " in s.name
    }
    assert {"triage", "sla-clock", "escalation", "notifier"} <= handling
