"""A mail accepted by the SMTP server while the ledger's database is unreachable is not sent again
when the database comes back (a past defect: the ledger update after a
successful send was outside any handling, so the dispatcher died, its claim's lease ran out and the
restarted dispatcher sent the mail a second time).

The outage is a real one: the dispatcher reaches the real PostgreSQL through a TCP link the test
cuts right after the SMTP server accepted the mail, for longer than the claim's lease, then
restores. The dispatcher runs under the same restart-on-crash policy as a service's worker."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import insert, text

from notifier.adapters.tables import deliveries
from notifier.domain.deliveries import Routing
from notifier.service_layer.dispatcher import Dispatcher
from notifier.settings import Settings
from supportdesk_contract.clock import SystemClock
from supportdesk_devstack.testing import CuttableLink, Sandbox, SmtpSink, equals, eventually, scalar
from supportdesk_service.migrations import migrate
from supportdesk_service.runtime import ServiceDefinition, ServiceRuntime

pytestmark = pytest.mark.integration

SEND_TIMEOUT = 0.5  # a claim's lease: 1.5 s
OUTAGE = 4.0  # longer than the lease


def runtime(settings: Settings) -> ServiceRuntime[Settings]:
    return ServiceRuntime(ServiceDefinition(name="notifier", settings=settings, clock=SystemClock()))


def through(link: CuttableLink, url: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username or ''}{'@' if parts.username else ''}127.0.0.1:{link.port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def pending_mail(rt: ServiceRuntime[Settings], ticket_id: str, recipient: str) -> uuid.UUID:
    """A pending email delivery due now, as the handlers queue one for an agent's answer."""
    now = SystemClock().now()
    delivery_id = uuid.uuid4()
    async with rt.engine.begin() as conn:
        await conn.execute(
            insert(deliveries),
            dict(
                cause_event_id=uuid.uuid4(),
                recipient=recipient,
                channel="email",
                ticket_id=ticket_id,
                template="agent_responded",
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                subject="Re: your ticket",
                body="An answer.",
                delivery_id=delivery_id,
                message_id=f"<{delivery_id}@supportdesk.example>",
                correlation_id=uuid.uuid4(),
                context={"event_type": "AgentResponded"},
            ),
        )
    return delivery_id


@pytest.fixture
async def ledger(space: Sandbox) -> AsyncIterator[tuple[Settings, CuttableLink]]:
    direct = urlsplit(space.servers.database_url)
    async with CuttableLink(direct.hostname or "127.0.0.1", direct.port or 5432) as link:
        settings = Settings(
            DATABASE_URL=space.servers.database_url,
            KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
            KAFKA_TOPIC_PREFIX=space.prefix,
            database_name=space.database("notifier"),
            send_timeout_seconds=SEND_TIMEOUT,
            retry_base_seconds=0.05,
        )
        await asyncio.to_thread(migrate, settings, "notifier:migrations")
        yield settings, link


async def test_a_mail_sent_while_the_ledger_is_unreachable_is_not_sent_again(
    ledger: tuple[Settings, CuttableLink],
) -> None:
    settings, link = ledger
    observer = runtime(settings)  # straight to PostgreSQL, never cut
    delivery_id = await pending_mail(observer, "tkt-0001", "ann@customer.example")

    outage_over = asyncio.Event()

    class CutAfterTheMailIsAccepted(Dispatcher):
        async def send(self, r: Any) -> None:
            await super().send(r)
            if not outage_over.is_set():
                await link.cut()

    async def end_outage() -> None:
        await eventually(lambda: _has_mail(sink), timeout=30, what="the mail")
        await asyncio.sleep(OUTAGE)
        outage_over.set()
        await link.restore()

    with SmtpSink() as sink:
        cut_settings = settings.model_copy(
            update={"smtp_port": sink.port, "database_url": through(link, settings.database_url)}
        )
        stop = asyncio.Event()

        async def worker() -> None:
            # What ServiceRuntime does with a worker that raises: log, wait, start a new one.
            while not stop.is_set():
                rt = runtime(cut_settings)
                try:
                    await CutAfterTheMailIsAccepted(rt, cut_settings, Routing()).run(stop)
                except Exception:
                    await asyncio.sleep(0.5)
                finally:
                    await rt.engine.dispose()

        running = asyncio.create_task(worker())
        try:
            await end_outage()
            sent = "SELECT count(*) FROM deliveries WHERE status = 'sent'"
            await eventually(lambda: equals(observer.engine, sent, 1), timeout=30, what="the ledger to say sent")
            await asyncio.sleep(2 * 3 * SEND_TIMEOUT)  # a resend after another lease would land now
        finally:
            stop.set()
            await running
        ids = [str(m["Message-ID"]) for m in sink.messages]
    events = await scalar(observer.engine, "SELECT count(*) FROM events WHERE event_type = 'NotificationSent'")
    attempts = await scalar(observer.engine, "SELECT attempts FROM deliveries")
    await observer.engine.dispose()
    assert ids == [f"<{delivery_id}@supportdesk.example>"]
    assert events == 1
    assert attempts == 1


async def _has_mail(sink: SmtpSink) -> bool:
    return bool(sink.messages)


async def test_a_delivery_erased_while_it_is_sent_records_no_event_naming_the_address(
    ledger: tuple[Settings, CuttableLink],
) -> None:
    """The requester is erased (the notifier deletes their deliveries and forgets their address)
    while a mail to them is on its way: the settled outcome finds no row and records nothing; a
    NotificationSent would have carried the address into the permanent log."""
    settings, _ = ledger
    rt = runtime(settings)
    address = "erased-while-sending@customer.example"
    delivery_id = await pending_mail(rt, "tkt-0002", address)

    class ErasedMidSend(Dispatcher):
        async def send(self, r: Any) -> None:
            await super().send(r)
            async with self.runtime.engine.begin() as conn:  # what on_requester_erased does meanwhile
                await conn.execute(text("DELETE FROM deliveries WHERE delivery_id = :d"), {"d": delivery_id})

    with SmtpSink() as sink:
        stop = asyncio.Event()
        dispatcher = ErasedMidSend(rt, settings.model_copy(update={"smtp_port": sink.port}), Routing())
        running = asyncio.create_task(dispatcher.run(stop))
        try:
            await eventually(lambda: _has_mail(sink), timeout=30, what="the mail")
            await asyncio.sleep(1.0)  # the outcome is settled right after the send
        finally:
            stop.set()
            await running
    named = await scalar(rt.engine, f"SELECT count(*) FROM events WHERE envelope::text LIKE '%{address}%'")
    events = await scalar(rt.engine, "SELECT count(*) FROM events")
    await rt.engine.dispose()
    assert (named, events) == (0, 0)
