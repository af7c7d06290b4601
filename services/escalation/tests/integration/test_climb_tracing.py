"""With tracing on, a climb of the climber (a background worker: no incoming context) begins a
trace, and the TicketEscalated it records carries that trace to the relay and onward."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from escalation.adapters import directory
from escalation.service_layer import climber
from escalation.service_layer.handlers import HANDLERS
from escalation.settings import Settings
from supportdesk_devstack.testing import Sandbox
from supportdesk_events import HandlerContext, ManualClock, new_envelope, tracing
from supportdesk_events.catalogue import (
    Channel,
    ClockKind,
    Priority,
    RequestType,
    SlaBreached,
    TicketOpened,
    TicketTriaged,
)
from supportdesk_events.migrations import migrate
from supportdesk_events.web import ServiceDefinition, ServiceRuntime

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)
DIRECTORY = directory.DirectorySpec.model_validate(
    {
        "tier_leads": {"technical": ["lead@support.example"]},
        "account_managers": {"acme": ["am@acme-support.example"]},
        "executives": ["exec@support.example"],
        "climb_after_minutes": {2: 60},
    }
)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    assert not tracing.enabled(), "tracing is on from the environment (OTEL_TRACES_EXPORTER): this test sets its own"
    exporter = InMemorySpanExporter()
    assert tracing.configure("escalation", processor=SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown()


async def test_a_climb_begins_a_trace_that_its_ticket_escalated_carries(
    space: Sandbox, spans: InMemorySpanExporter
) -> None:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("escalation"),
    )
    await asyncio.to_thread(migrate, settings, "escalation:migrations")
    clock = ManualClock(T0)
    rt = ServiceRuntime(ServiceDefinition(name="escalation", settings=settings, clock=clock))
    try:
        async with rt.engine.begin() as conn:
            await directory.replace(conn, DIRECTORY, clock.now())
            ctx = HandlerContext(conn, clock, "escalation")
            for fact in (
                TicketOpened(
                    number="n", channel=Channel.WEB, subject="s", description="d", opened_at=T0, customer_id="acme"
                ),
                TicketTriaged(
                    priority=Priority.NORMAL,
                    severity=3,
                    request_type=RequestType.PROBLEM,
                    queue="technical",
                    sla_exempt=False,
                    swat=False,
                    rule="r",
                    channel=Channel.WEB,
                    opened_at=T0,
                ),
                SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=T0),
            ):
                env = new_envelope(fact, ticket_id="esc-traced", producer="test", clock=clock)
                await HANDLERS[env.event_type](ctx, env)
            await ctx.flush()
        clock.set(T0 + timedelta(minutes=61))
        assert await climber.climb_due(rt) == 1
        async with rt.engine.connect() as conn:
            stored = (
                await conn.execute(
                    text(
                        "SELECT trace_context FROM events WHERE event_type = 'TicketEscalated' "
                        "AND envelope->'payload'->>'level' = '3'"
                    )
                )
            ).scalar_one()
    finally:
        await rt.engine.dispose()
    climbs = [s for s in spans.get_finished_spans() if s.name == "escalation climb"]
    assert len(climbs) == 1
    assert (climbs[0].attributes or {}).get("supportdesk.ticket_id") == "esc-traced"
    assert stored is not None
    carried = trace.get_current_span(propagate.extract(stored)).get_span_context()
    assert climbs[0].context is not None
    assert carried.trace_id == climbs[0].context.trace_id
