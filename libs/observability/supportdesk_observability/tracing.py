"""OpenTelemetry tracing that follows a ticket across HTTP, the outbox, Kafka and every consumer.

Off by default, and then nothing of the SDK is imported or set up: `capture()` returns None, the
span helpers are empty context managers, no header is added. On when `OTEL_TRACES_EXPORTER` names
an exporter (`otlp`, `console`, any installed `opentelemetry_traces_exporter` entry point) and
`OTEL_SDK_DISABLED` is not `true`; the exporters read their own `OTEL_EXPORTER_OTLP_*` variables
and `OTEL_SERVICE_NAME` overrides the service's name. `configure()` runs once per process, from
`web.create_app`.

How the context travels (W3C trace context, written and read with `opentelemetry.propagate`):
- `record()` stores `capture()` (the current span's `traceparent`/`tracestate`) with each outbox
  row: the request's span in a route, the handler's span in a consumer.
- The relay starts one PRODUCER span per row as a child of that context and puts the span's
  context in the Kafka record's headers (`publish_span`/`end_publish`).
- The consumer runs each handler in a CONSUMER span, a child of the headers' context
  (`handler_span`), so what the handler records carries the trace onward.
- Work done later from a stored row (sla-clock's timers, notifier's deliveries) continues the
  context stored with the row (`continued_span`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Span as Span  # re-exported: the relay holds its publish spans
from opentelemetry.trace import SpanKind as SpanKind  # re-exported: services name their spans' kind
from opentelemetry.trace import Status, StatusCode, Tracer

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

    from supportdesk_contract.envelope import Envelope

log = logging.getLogger(__name__)

INSTRUMENTATION = "supportdesk"
# `otlp` is OTLP over HTTP/protobuf (port 4318) unless the gRPC exporter package is installed too.
_EXPORTER_ALIASES = {"otlp": "otlp_proto_http"}


@dataclass
class _Tracing:
    provider: TracerProvider
    tracer: Tracer
    service: str


_state: _Tracing | None = None

Stored = str | Mapping[str, Any] | None  # a row's trace context: JSON text (asyncpg) or a dict


def wanted(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The exporters the standard variables ask for; empty means tracing stays off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    return [n for n in names if n and n != "none"]


def enabled() -> bool:
    return _state is not None


def configure(service: str, *, processor: SpanProcessor | None = None) -> bool:
    """Set up the SDK for this process if the environment asks for it (or `processor` is given,
    e.g. a test's in-memory exporter); the first call wins. Returns whether tracing is on."""
    global _state
    if _state is not None:
        return True
    names = wanted()
    if processor is None and not names:
        return False
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    if processor is not None:
        provider.add_span_processor(processor)
    for exporter in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(exporter)))
    # Webhook POSTs (and any other outgoing httpx call) get a CLIENT span and a traceparent header.
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _state = _Tracing(provider, provider.get_tracer(INSTRUMENTATION), name)
    log.info("tracing on", extra={"service": name, "exporters": names})
    return True


def _exporter(name: str) -> SpanExporter:
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found and name in _EXPORTER_ALIASES:
        found = entry_points(group="opentelemetry_traces_exporter", name=_EXPORTER_ALIASES[name])
    if not found:
        raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: no such span exporter is installed")
    exporter: SpanExporter = next(iter(found)).load()()
    return exporter


def shutdown() -> None:
    """Flush and turn tracing off again (at process exit, and between tests)."""
    global _state
    if _state is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    _state.provider.shutdown()
    _state = None


def instrument_app(app: FastAPI) -> None:
    """A SERVER span for every request but the probes and metrics scrapes."""
    if _state is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_state.provider,
        excluded_urls="/healthz,/readyz,/metrics",
        exclude_spans=["receive", "send"],  # one span per request, not one per body chunk
    )


# --- carrying the context -------------------------------------------------------------------------


def capture() -> dict[str, str] | None:
    """The current span's context as W3C headers, to store with a row; None when off or no span."""
    if _state is None:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def _carrier(stored: Stored) -> dict[str, str]:
    """A stored context (JSONB, read as text by asyncpg or as a dict by SQLAlchemy)."""
    if stored is None:
        return {}
    loaded = json.loads(stored) if isinstance(stored, str) else stored
    if not isinstance(loaded, Mapping):
        return {}
    return {str(k): str(v) for k, v in loaded.items()}


def header_carrier(headers: Any) -> dict[str, str]:
    """Kafka record headers ((name, bytes) pairs) as a carrier for `propagate.extract`."""
    out: dict[str, str] = {}
    for key, value in headers or ():
        if value is not None:
            try:
                out[key] = bytes(value).decode()
            except UnicodeDecodeError:
                continue
    return out


# --- spans ----------------------------------------------------------------------------------------


def publish_span(stored: Stored, topic: str, row: Mapping[str, Any], headers: Any) -> Span | None:
    """Before the relay sends `row`: a PRODUCER span, child of the context recorded with the row,
    whose context goes into `headers` (a list, extended in place). Off: a recorded context still
    travels as it was recorded; nothing recorded, nothing added."""
    carrier = _carrier(stored)
    if not carrier:
        return None
    if _state is None:
        headers.extend((k, v.encode()) for k, v in carrier.items())
        return None
    span = _state.tracer.start_span(
        f"send {topic}",
        context=propagate.extract(carrier),
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": topic,
            "messaging.message.id": str(row["event_id"]),
            "messaging.kafka.message.key": str(row["ticket_id"]),
            "supportdesk.event_type": str(row["event_type"]),
            "supportdesk.ticket_id": str(row["ticket_id"]),
        },
    )
    sent: dict[str, str] = {}
    propagate.inject(sent, context=trace.set_span_in_context(span))
    headers.extend((k, v.encode()) for k, v in sent.items())
    return span


def end_publish(span: Span | None, result: object) -> None:
    """After the broker answered for the row: where it landed, or what went wrong."""
    if span is None:
        return
    if isinstance(result, BaseException):
        span.record_exception(result)
        span.set_status(Status(StatusCode.ERROR, f"{type(result).__name__}: {result}"))
    else:
        partition, offset = getattr(result, "partition", None), getattr(result, "offset", None)
        if partition is not None:
            span.set_attribute("messaging.destination.partition.id", str(partition))
        if offset is not None:
            span.set_attribute("messaging.kafka.offset", int(offset))
    span.end()


@contextmanager
def handler_span(service: str, group: str, msg: Any, env: Envelope[Any]) -> Iterator[None]:
    """Runs a consumer's handler of one event in a CONSUMER span named `<service> handle
    <EventType>`, a child of the context in the record's headers (a new trace if none)."""
    if _state is None:
        yield
        return
    with _state.tracer.start_as_current_span(
        f"{service} handle {env.event_type}",
        context=propagate.extract(header_carrier(msg.headers)),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.operation.name": "handle",
            "messaging.destination.name": str(msg.topic),
            "messaging.destination.partition.id": str(msg.partition),
            "messaging.kafka.offset": int(msg.offset),
            "messaging.consumer.group.name": group,
            "messaging.message.id": str(env.event_id),
            "messaging.kafka.message.key": env.ticket_id,
            "supportdesk.event_type": env.event_type,
            "supportdesk.event_id": str(env.event_id),
            "supportdesk.ticket_id": env.ticket_id,
            "supportdesk.correlation_id": str(env.correlation_id),
        },
    ):
        yield


@contextmanager
def continued_span(
    name: str,
    stored: Stored,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[None]:
    """Work done later for a stored row (a timer firing, a delivery attempt): a span continuing
    the trace whose context was stored with the row (a new trace if none was stored)."""
    if _state is None:
        yield
        return
    with _state.tracer.start_as_current_span(
        name, context=propagate.extract(_carrier(stored)), kind=kind, attributes=dict(attributes or {})
    ):
        yield


def failed(reason: str) -> None:
    """Mark the current span as failed (an attempt that will be retried, or not) with `reason`."""
    if _state is None:
        return
    trace.get_current_span().set_status(Status(StatusCode.ERROR, reason))
