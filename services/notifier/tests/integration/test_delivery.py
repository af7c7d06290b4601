"""The notifier on the real broker and database, sending to a real SMTP server and a real HTTP
endpoint: each person told once, a flaky webhook delivered exactly once, replays send nothing."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY
from sqlalchemy import text
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from notifier.adapters.routing_file import load_routing
from notifier.adapters.templates import Templates
from notifier.service_layer import dispatcher
from notifier.service_layer.handlers import Notifier, handlers
from notifier.service_layer.workers import run_dispatcher
from notifier.settings import Settings
from supportdesk_contract.catalogue import AgentResponded, Channel, ClockKind, Priority, SlaBreached
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import Envelope, encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, SmtpSink, events, eventually, free_port, produce
from supportdesk_messaging.sealing import new_key, seal
from supportdesk_observability import tracing
from supportdesk_service.migrations import migrate
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime
from supportdesk_service.signing import new_webhook_secret

pytestmark = pytest.mark.integration
# The customer's integrator is rotating: both secrets configured, every delivery signed with each.
NEW_SECRET, OLD_SECRET = new_webhook_secret(), new_webhook_secret()
TOKEN_KEY = new_key()


class FlakyEndpoint:
    """Fails each webhook twice, then accepts; keeps every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes, int]] = []

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        tries = sum(1 for h, _, _ in self.requests if h["webhook-id"] == request.headers["webhook-id"])
        status = 500 if tries < 2 else 200
        self.requests.append((dict(request.headers), body, status))
        return Response(status_code=status)

    def by_type(self) -> dict[str, list[tuple[dict[str, str], bytes, int]]]:
        out: dict[str, list[tuple[dict[str, str], bytes, int]]] = {}
        for h, body, status in self.requests:
            out.setdefault(json.loads(body)["type"], []).append((h, body, status))
        return out


@pytest.fixture
async def world(space: Sandbox, tmp_path: Path) -> AsyncIterator[tuple[Any, ...]]:
    inbox, hook = SmtpSink(), FlakyEndpoint()
    smtp = inbox.controller
    smtp.start()
    web_port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hook", hook.handle, methods=["POST"])]),
            host="127.0.0.1",
            port=web_port,
            log_level="warning",
        )
    )
    serving = asyncio.create_task(server.serve())
    routing = tmp_path / "routing.yaml"
    routing.write_text(f"""
queues:
  technical: {{email: technical@supportdesk.example}}
customer_webhooks:
  acme: {{webhook_url: "http://127.0.0.1:{web_port}/hook", webhook_secrets: [{NEW_SECRET}, {OLD_SECRET}]}}
""")
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("notifier"),
        smtp_port=inbox.port,
        routing_file=str(routing),
        retry_base_seconds=0.05,
        REQUESTER_TOKEN_KEY=TOKEN_KEY,
    )
    await asyncio.to_thread(migrate, settings, "notifier:migrations")
    runtime = ServiceRuntime(
        ServiceDefinition(
            name="notifier",
            settings=settings,
            clock=SystemClock(),
            workers={"dispatcher": run_dispatcher},
            handlers=handlers(Notifier(settings, load_routing(settings.routing_file), Templates())),
        )
    )
    await runtime.start()
    yield runtime, inbox, hook
    await runtime.stop()
    server.should_exit = True
    await serving
    smtp.stop()


def envelopes(ticket: str) -> tuple[list[Envelope[Any]], list[Envelope[Any]], list[Envelope[Any]]]:
    now = datetime.now(UTC)
    clock = SystemClock()
    opened = events.envelope(
        events.opened(
            number="TKT-7",
            requester_email="dana@acme.example",
            customer_id="acme",
            subject="Export fails",
            opened_at=now,
            requester_token_sealed=seal(TOKEN_KEY, "dana-s-token"),
        ),
        ticket,
        producer="intake",
        clock=clock,
    )
    answered = new_envelope(
        AgentResponded(agent="ann", body="We are on it.", confirms_receipt=True),
        ticket_id=ticket,
        producer="intake",
        clock=clock,
    )
    triaged = events.envelope(
        events.triaged(priority=Priority.HIGH, severity=2, swat=True, opened_at=now),
        ticket,
        producer="triage",
        clock=clock,
    )
    breached = new_envelope(
        SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=now), ticket_id=ticket, producer="sla-clock", clock=clock
    )
    return [opened, answered], [triaged], [breached]


async def send(space: Sandbox, lifecycle: list[Any], triage: list[Any], sla: list[Any]) -> None:
    await produce(space, Topic.SLA, [encode(e)[:2] for e in sla])  # sla first: it must wait for the ticket
    await produce(space, Topic.TRIAGE, [encode(e)[:2] for e in triage])
    await produce(space, Topic.LIFECYCLE, [encode(e)[:2] for e in lifecycle])


def duplicates_seen() -> float:
    """How many messages the notifier's consumer recognised as already processed (its metric)."""
    return sum(
        REGISTRY.get_sample_value(
            "supportdesk_events_consumed_total", {"consumer": "notifier", "event_type": t, "outcome": "duplicate"}
        )
        or 0
        for t in ("TicketOpened", "AgentResponded", "TicketTriaged", "SlaBreached")
    )


async def rows(runtime: ServiceRuntime, sql: str) -> list[Any]:
    async with runtime.engine.connect() as conn:
        return list((await conn.execute(text(sql))).all())


async def test_each_person_is_told_once_and_a_flaky_webhook_gets_exactly_one_good_delivery(
    space: Sandbox, world: tuple[Any, ...]
) -> None:
    runtime, inbox, hook = world
    lifecycle, triage, sla = envelopes("t-1")
    await send(space, lifecycle, triage, sla)

    async def settled() -> bool:
        statuses = await rows(runtime, "SELECT status FROM deliveries")
        return len(statuses) == 4 and all(s.status == "sent" for s in statuses)

    await eventually(settled, timeout=30, what="four deliveries sent")
    by_recipient = {m["To"]: m for m in inbox.messages}
    assert sorted(by_recipient) == ["dana@acme.example", "technical@supportdesk.example"]
    assert len(inbox.messages) == 2  # a web ticket: the form's answer is its acknowledgement
    receipt = by_recipient["dana@acme.example"]
    assert receipt["Subject"] == "We have your request [#TKT-7]"  # the token threads replies back
    assert receipt["Message-ID"].startswith("<TKT-7.") and receipt["Auto-Submitted"] == "auto-generated"
    assert "We are on it." in receipt.get_content()
    # docs/policies.md#seed-000: requests logged by phone or mail can be statused online: the link and the token.
    assert "/v1/tickets/t-1" in receipt.get_content() and "dana-s-token" in receipt.get_content()
    assert by_recipient["technical@supportdesk.example"]["Subject"] == "BREACHED: first_response [#TKT-7]"

    hooks = hook.by_type()
    assert sorted(hooks) == ["ticket.opened", "ticket.responded"]  # the customer's system hears of the new ticket
    for attempts_seen in hooks.values():
        assert [status for _, _, status in attempts_seen] == [500, 500, 200]
        assert len({h["webhook-id"] for h, _, _ in attempts_seen}) == 1  # the same id on every attempt: dedupe
    headers, body, _ = hooks["ticket.responded"][-1]
    # The customer's side: the reference Standard Webhooks library, with either secret of the rotation.
    for secret in (NEW_SECRET, OLD_SECRET):
        assert Webhook(secret).verify(body, headers)["ticket"] == "TKT-7"
    assert len(headers["webhook-signature"].split(" ")) == 2
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(body, headers)
    opened_headers, opened_raw, _ = hooks["ticket.opened"][-1]
    opened_body = Webhook(NEW_SECRET).verify(opened_raw, opened_headers)
    assert opened_body["event_type"] == "TicketOpened" and opened_body["data"]["channel"] == "web"
    attempts = await rows(runtime, "SELECT attempts FROM deliveries WHERE channel = 'webhook'")
    assert [a.attempts for a in attempts] == [3, 3]

    # Every event again: nothing new decided, nothing new sent.
    before = duplicates_seen()
    await send(space, lifecycle, triage, sla)

    async def all_redelivered() -> bool:
        return duplicates_seen() - before == 4

    await eventually(all_redelivered, what="the four redelivered events seen as duplicates")
    assert (await rows(runtime, "SELECT count(*) AS n FROM deliveries"))[0].n == 4
    assert len(inbox.messages) == 2 and len(hook.requests) == 6
    sent_events = await rows(runtime, "SELECT count(*) AS n FROM events WHERE event_type = 'NotificationSent'")
    assert sent_events[0].n == 4


def email_ticket(ticket: str, number: str, requester: str, staff: str | None = None) -> list[Envelope[Any]]:
    clock = SystemClock()
    sealed = seal(TOKEN_KEY, f"{number}-token")
    opened = events.opened(
        number=number,
        channel=Channel.EMAIL,
        requester_email=requester,
        subject="Export fails",
        policy="data-insights",
        requester_token_sealed=sealed,
        opened_by_staff=staff,
        clock=clock,
    )
    return [events.envelope(opened, ticket, producer="intake", clock=clock)]


def clock_started(ticket: str) -> Envelope[Any]:
    now = datetime.now(UTC)
    calendar = "data-insights-business-hours"
    started = events.started(
        started_at=now, due_at=now, target_seconds=4 * 3600, calendar=calendar, opened_in_hours=True
    )
    return events.envelope(started, ticket, producer="sla-clock")


async def test_the_access_token_reaches_the_requester_alone_never_the_webhook_nor_the_ledger(
    space: Sandbox, world: tuple[Any, ...]
) -> None:
    runtime, inbox, hook = world
    lifecycle, triage, sla = envelopes("t-9")
    await send(space, lifecycle, triage, sla)

    async def settled() -> bool:
        statuses = await rows(runtime, "SELECT status FROM deliveries")
        return len(statuses) == 4 and all(s.status == "sent" for s in statuses)

    await eventually(settled, timeout=30, what="four deliveries sent")
    (receipt,) = [m for m in inbox.messages if m["To"] == "dana@acme.example"]
    assert "dana-s-token" in receipt.get_content()  # the requester's own way in (a phone or mail ticket's only one)
    # The customer's webhook: every attempt, payload and rendered body, holds no token; it gets the link.
    assert hook.requests and all(b"dana-s-token" not in raw for _, raw, _ in hook.requests)
    headers, raw, _ = hook.by_type()["ticket.responded"][-1]
    responded = Webhook(NEW_SECRET).verify(raw, headers)
    assert "access_token" not in responded["data"]
    assert responded["data"]["status_url"].endswith("/v1/tickets/t-9")
    # The ledger: no column of any delivery holds it (the email's text is completed as it is sent).
    stored = await rows(runtime, "SELECT d::text AS row FROM deliveries d")
    assert len(stored) == 4 and not [r.row for r in stored if "dana-s-token" in r.row]


async def test_an_unexpected_send_failure_is_logged_by_delivery_id_not_by_address(
    space: Sandbox, world: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    runtime, _, _ = world

    async def broken(**_: Any) -> None:
        raise RuntimeError("a bug in the mail channel")

    monkeypatch.setattr(dispatcher, "send_email", broken)
    caplog.set_level(logging.ERROR, logger=dispatcher.__name__)
    await produce(space, Topic.LIFECYCLE, [encode(e)[:2] for e in email_ticket("t-8", "TKT-12", "gil@acme.example")])
    await produce(space, Topic.SLA, [encode(clock_started("t-8"))[:2]])

    async def attempted() -> list[Any]:
        return await rows(runtime, "SELECT delivery_id FROM deliveries WHERE ticket_id = 't-8' AND attempts > 0")

    (row,) = await eventually(attempted, timeout=30, what="the acknowledgement attempted")
    failures = [r for r in caplog.records if r.exc_info and "a bug in the mail channel" in str(r.exc_info[1])]
    assert failures, "the failed send was logged"
    assert all(str(row.delivery_id) in r.getMessage() for r in failures)
    assert not [r for r in caplog.records if "gil@acme.example" in r.getMessage()]


async def test_a_mailed_request_is_acknowledged_once_and_a_staff_forward_is_not(
    space: Sandbox, world: tuple[Any, ...]
) -> None:
    runtime, inbox, _ = world
    started = [clock_started("t-2"), clock_started("t-3")]
    # The clock first (topics interleave): the acknowledgement waits for its ticket.
    await produce(space, Topic.SLA, [encode(e)[:2] for e in started])
    await produce(space, Topic.LIFECYCLE, [encode(e)[:2] for e in email_ticket("t-2", "TKT-8", "erin@acme.example")])
    forwarded = email_ticket("t-3", "TKT-9", "fay@acme.example", staff="ann@supportdesk.example")
    await produce(space, Topic.LIFECYCLE, [encode(e)[:2] for e in forwarded])

    async def acknowledged() -> bool:
        sent = await rows(runtime, "SELECT status FROM deliveries WHERE template = 'acknowledgement'")
        return len(sent) == 1 and sent[0].status == "sent"

    await eventually(acknowledged, timeout=30, what="the acknowledgement sent")
    (mail,) = inbox.messages
    assert mail["To"] == "erin@acme.example"
    assert mail["Subject"] == "Request received: Export fails [#TKT-8]"
    assert mail["Auto-Submitted"] == "auto-generated"
    content = mail.get_content()
    assert "within 4 business hours" in content
    assert "/v1/tickets/t-2" in content and "TKT-8-token" in content

    # The clock redelivered, and started again under a new event id: still one acknowledgement.
    def clock_events_seen() -> float:
        return sum(
            REGISTRY.get_sample_value(
                "supportdesk_events_consumed_total",
                {"consumer": "notifier", "event_type": "SlaClockStarted", "outcome": outcome},
            )
            or 0
            for outcome in ("applied", "duplicate")
        )

    before = clock_events_seen()
    await produce(space, Topic.SLA, [encode(e)[:2] for e in [started[0], clock_started("t-2")]])

    async def consumed() -> bool:
        return clock_events_seen() - before == 2

    await eventually(consumed, what="both clock events consumed")
    acks = await rows(runtime, "SELECT recipient FROM deliveries WHERE template = 'acknowledgement'")
    assert [a.recipient for a in acks] == ["erin@acme.example"]
    assert len(inbox.messages) == 1


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    assert not tracing.enabled(), "tracing is on from the environment (OTEL_TRACES_EXPORTER): this test sets its own"
    exporter = InMemorySpanExporter()
    assert tracing.configure("notifier", processor=SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown()


async def test_each_webhook_attempt_continues_the_events_trace_and_tells_the_endpoint(
    space: Sandbox, spans: InMemorySpanExporter, world: tuple[Any, ...]
) -> None:
    runtime, _, hook = world
    [opened, _], _, _ = envelopes("t-traced")
    with tracing.continued_span("intake relay", None, kind=SpanKind.PRODUCER):  # as intake's relay sends it
        upstream = trace.get_current_span().get_span_context()
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    key, value, headers = encode(opened)
    producer = AIOKafkaProducer(bootstrap_servers=space.servers.bootstrap_servers, acks="all")
    await producer.start()
    try:
        traced = [*headers, *((k, v.encode()) for k, v in carrier.items())]
        await producer.send_and_wait(space.prefix + Topic.LIFECYCLE.value, value=value, key=key, headers=traced)
    finally:
        await producer.stop()

    async def delivered() -> bool:
        statuses = await rows(runtime, "SELECT status FROM deliveries WHERE channel = 'webhook'")
        return [s.status for s in statuses] == ["sent"]

    await eventually(delivered, timeout=30, what="the ticket.opened webhook delivered")

    def ended() -> list[Any]:
        return sorted(
            (s for s in spans.get_finished_spans() if s.name == "notifier send webhook"),
            key=lambda s: s.attributes["supportdesk.attempt"],
        )

    async def three_attempts() -> bool:
        return len(ended()) == 3

    await eventually(three_attempts, what="three attempts' spans")
    handled = [s for s in spans.get_finished_spans() if s.name == "notifier handle TicketOpened"]
    assert len(handled) == 1 and handled[0].parent is not None
    assert (handled[0].context.trace_id, handled[0].parent.span_id) == (upstream.trace_id, upstream.span_id)
    attempts = ended()
    # Every attempt continues the handler's trace; the two refused are marked failed.
    for attempt in attempts:
        assert attempt.kind is SpanKind.CLIENT and attempt.parent is not None
        assert (attempt.context.trace_id, attempt.parent.span_id) == (upstream.trace_id, handled[0].context.span_id)
    assert [a.status.status_code for a in attempts] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    # httpx's instrumentation: the POST is a child span of its attempt, and the endpoint got its traceparent.
    posts = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT and s.name == "POST"]
    assert sorted(p.parent.span_id for p in posts if p.parent) == sorted(a.context.span_id for a in attempts)
    received = [h for h, body, _ in hook.requests if json.loads(body)["type"] == "ticket.opened"]
    assert len(received) == 3
    for h in received:
        sent = trace.get_current_span(propagate.extract(h)).get_span_context()
        assert sent.trace_id == upstream.trace_id
        assert sent.span_id in {p.context.span_id for p in posts}


async def test_a_web_requester_offered_a_link_gets_it_in_their_acknowledgement_and_the_ledger_does_not(
    space: Sandbox, world: tuple[Any, ...]
) -> None:
    runtime, inbox, _ = world
    clock = SystemClock()
    claimed = events.opened(
        number="TKT-21",
        channel=Channel.WEB,
        requester_email="hal@acme.example",
        subject="All down",
        severity=1,
        policy="data-insights",
        requester_token_sealed=seal(TOKEN_KEY, "hal-s-access-token"),
        requester_verified=False,
        requester_verification_sealed=seal(TOKEN_KEY, "hal-s-one-time-token"),
        clock=clock,
    )
    await produce(
        space, Topic.LIFECYCLE, [encode(events.envelope(claimed, "t-21", producer="intake", clock=clock))[:2]]
    )
    await produce(space, Topic.SLA, [encode(clock_started("t-21"))[:2]])

    async def acknowledged() -> bool:
        sent = await rows(runtime, "SELECT status FROM deliveries WHERE ticket_id = 't-21'")
        return len(sent) == 1 and sent[0].status == "sent"

    await eventually(acknowledged, timeout=30, what="the web requester's acknowledgement sent")
    (mail,) = [m for m in inbox.messages if m["To"] == "hal@acme.example"]
    link = "http://127.0.0.1:8001/v1/tickets/t-21/requester-verification#token=hal-s-one-time-token"
    assert link in mail.get_content()
    stored = await rows(runtime, "SELECT d::text AS row FROM deliveries d WHERE ticket_id = 't-21'")
    assert stored and not [r.row for r in stored if "hal-s-one-time-token" in r.row or "hal-s-access" in r.row]
    contacts = await rows(runtime, "SELECT c::text AS row FROM ticket_contacts c WHERE ticket_id = 't-21'")
    assert "hal-s-one-time-token" not in contacts[0].row  # kept sealed
