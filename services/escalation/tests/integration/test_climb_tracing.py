"""With tracing on, a climb of the climber (a background worker: no incoming context) begins a
trace, and the TicketEscalated it records carries that trace to the relay and onward."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from escalation.service_layer import climber
from supportdesk_contract.clock import ManualClock
from supportdesk_devstack.testing import Sandbox
from supportdesk_observability import tracing

from .breached import T0, migrated, runtime, seed

pytestmark = pytest.mark.integration


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
    settings = await migrated(space)
    clock = ManualClock(T0)
    rt = runtime(settings, clock)
    try:
        await seed(rt, clock, ["esc-traced"])
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
