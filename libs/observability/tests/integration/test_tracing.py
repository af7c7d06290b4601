"""Trace context through the outbox row, the Kafka headers and the consumer, on the real broker and
database: with tracing on (an in-memory exporter) one trace runs request -> relay publish ->
handler -> what the handler records; with tracing off nothing is stored or added."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind
from sqlalchemy import MetaData, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.catalogue import TicketReopened
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import Envelope, derived_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, consuming, eventually, read_topic
from supportdesk_devstack.testing.events import envelope, opened
from supportdesk_messaging.db import plumbing_tables
from supportdesk_messaging.handler_context import HandlerContext
from supportdesk_messaging.outbox import record
from supportdesk_messaging.relay import OutboxRelay
from supportdesk_observability import tracing

pytestmark = pytest.mark.integration

metadata = MetaData()
EVENTS, _ = plumbing_tables(metadata)


async def reopen_on_open(ctx: HandlerContext, env: Envelope[Any]) -> None:
    """A handler that records an event of its own, as every service's handlers do."""
    await record(
        ctx.conn, [derived_envelope(env, TicketReopened(by="probe", reason="r"), producer="probe", clock=ctx.clock)]
    )


@pytest.fixture
def tables() -> MetaData:
    return metadata


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    assert not tracing.enabled(), "tracing is on from the environment (OTEL_TRACES_EXPORTER): this test sets its own"
    exporter = InMemorySpanExporter()
    assert tracing.configure("probe", processor=SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown()


@pytest.fixture
async def desk(space: Sandbox, engine: AsyncEngine) -> AsyncIterator[None]:
    """The relay and a consumer of tickets.lifecycle, as a service runs them."""
    relay = OutboxRelay(
        engine, service="probe", bootstrap_servers=space.servers.bootstrap_servers, topic_prefix=space.prefix
    )
    stop = asyncio.Event()
    relaying = asyncio.create_task(relay.run(stop))
    async with consuming(space, engine, "probe", {"TicketOpened": reopen_on_open}, SystemClock()):
        yield
    stop.set()
    await asyncio.wait_for(relaying, 30)


async def stored_context(engine: AsyncEngine, event_id: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(EVENTS.c.trace_context).where(EVENTS.c.event_id == event_id))).scalar()


def context_of(carrier: dict[str, str]) -> SpanContext:
    """What a receiver reads from a carrier, with the OTel propagation API."""
    return trace.get_current_span(propagate.extract(carrier)).get_span_context()


def headers_of(msg: Any) -> dict[str, str]:
    return {k: bytes(v).decode() for k, v in msg.headers}


def one(spans: InMemorySpanExporter, name: str, event_type: str) -> ReadableSpan:
    found = [
        s
        for s in spans.get_finished_spans()
        if s.name == name and (s.attributes or {}).get("supportdesk.event_type") == event_type
    ]
    assert len(found) == 1, f"{name} of {event_type}: {[s.name for s in spans.get_finished_spans()]}"
    return found[0]


async def test_the_recorded_context_travels_in_the_kafka_headers_to_the_handlers_span_and_onward(
    space: Sandbox, engine: AsyncEngine, spans: InMemorySpanExporter, desk: None
) -> None:
    env = envelope(opened(), "traced", producer="probe")
    with tracing.continued_span("POST /v1/tickets", None, kind=SpanKind.SERVER):  # the request's span
        request = trace.get_current_span().get_span_context()
        async with engine.begin() as conn:
            await record(conn, [env])

    # Recorded: the request's context is stored with the outbox row.
    recorded = context_of(await stored_context(engine, env.event_id))
    assert (recorded.trace_id, recorded.span_id) == (request.trace_id, request.span_id)

    reopened = derived_envelope(env, TicketReopened(by="probe", reason="r"), producer="probe", clock=SystemClock())
    await eventually(lambda: stored_context(engine, reopened.event_id), what="the handler's own event recorded")

    topic = space.prefix + Topic.LIFECYCLE.value
    publish = one(spans, f"send {topic}", "TicketOpened")
    assert publish.kind is SpanKind.PRODUCER and publish.parent is not None
    assert (publish.context.trace_id, publish.parent.span_id) == (request.trace_id, request.span_id)

    # Published: the headers carry the publish span's context, beside the wire headers.
    [msg, *_] = await read_topic(space, Topic.LIFECYCLE, expect=1)
    headers = headers_of(msg)
    assert headers["event_id"] == str(env.event_id)
    sent = context_of(headers)
    assert (sent.trace_id, sent.span_id) == (request.trace_id, publish.context.span_id)

    # Consumed: the handler ran in a child span of it, named and described for the messaging conventions.
    handled = one(spans, "probe handle TicketOpened", "TicketOpened")
    assert handled.kind is SpanKind.CONSUMER and handled.parent is not None
    assert (handled.context.trace_id, handled.parent.span_id) == (request.trace_id, publish.context.span_id)
    attributes = dict(handled.attributes or {})
    assert attributes["messaging.system"] == "kafka"
    assert attributes["messaging.destination.name"] == topic
    assert attributes["messaging.destination.partition.id"] == str(msg.partition)
    assert attributes["messaging.kafka.offset"] == msg.offset
    assert attributes["supportdesk.event_type"] == "TicketOpened"
    assert attributes["supportdesk.event_id"] == str(env.event_id)
    assert attributes["supportdesk.ticket_id"] == "traced"

    # Onward: what the handler recorded carries the handler's context.
    onward = context_of(await stored_context(engine, reopened.event_id))
    assert (onward.trace_id, onward.span_id) == (request.trace_id, handled.context.span_id)


async def test_with_tracing_off_nothing_is_stored_no_header_is_added_and_events_flow(
    space: Sandbox, engine: AsyncEngine, desk: None
) -> None:
    assert not tracing.enabled()
    env = envelope(opened(), "untraced", producer="probe")
    async with engine.begin() as conn:
        await record(conn, [env])
    assert await stored_context(engine, env.event_id) is None
    reopened = derived_envelope(env, TicketReopened(by="probe", reason="r"), producer="probe", clock=SystemClock())

    async def handled() -> bool:
        async with engine.connect() as conn:
            found = (
                await conn.execute(select(EVENTS.c.event_id).where(EVENTS.c.event_id == reopened.event_id))
            ).first()
        return found is not None

    await eventually(handled, what="the handler's own event recorded")
    async with engine.connect() as conn:  # SQL NULL, not a JSON null: nothing is stored
        nulls = (await conn.execute(text("SELECT count(*) FROM events WHERE trace_context IS NULL"))).scalar()
    assert nulls == 2
    [msg, *_] = await read_topic(space, Topic.LIFECYCLE, expect=1)
    assert sorted(headers_of(msg)) == ["correlation_id", "event_id", "event_type", "schema_version"]
