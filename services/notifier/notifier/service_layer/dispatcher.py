"""Sending what the ledger holds: concurrently, each send with its own timeout, so a slow or
failing endpoint never holds up the others. Failures retry with exponential backoff and full
jitter; after the last attempt the delivery is dead with its reason and NotificationFailed is
emitted. A claimed delivery is leased, so a crash mid-send lets it be retried later; its
Message-ID / webhook-id stay the same, so a resend is recognisably the same notification."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta
from typing import Any

import httpx
from prometheus_client import Counter
from sqlalchemy import func, select, update

from supportdesk_events import Envelope, record, signing, tracing
from supportdesk_events.catalogue import NotificationFailed, NotificationSent
from supportdesk_events.envelope import anchored_envelope
from supportdesk_events.timers import pause_until
from supportdesk_events.web import ServiceRuntime

from ..adapters.channels import SendFailed, send_email, send_webhook
from ..adapters.routing_file import load_routing
from ..adapters.tables import deliveries
from ..domain.deliveries import WEBHOOK_TYPES, Routing
from ..settings import Settings

log = logging.getLogger(__name__)

NOTIFICATIONS = Counter(
    "supportdesk_notifications_total",
    "Deliveries finished: sent, or failed after the last attempt",
    ["channel", "outcome"],
)


def signing_secrets(routing: Routing, url: str, stored: str | None) -> tuple[str, ...]:
    """The URL's secrets as configured now (a rotation applies to pending retries too), else those
    stored with the delivery; a stored pre-`whsec_` secret (from before the upgrade) is its key bytes."""
    current = routing.webhook_secrets(url)
    if current is not None:
        return current
    if not stored:
        return ()
    if stored.startswith(signing.WEBHOOK_SECRET_PREFIX):
        return tuple(stored.split(" "))
    return (signing.webhook_secret_from_legacy(stored),)


def backoff(attempt: int, base: float) -> float:
    """Full jitter: uniformly up to base x 2^attempt seconds."""
    return random.uniform(0, base * (2**attempt))


class Dispatcher:
    def __init__(self, runtime: ServiceRuntime[Settings], settings: Settings, routing: Routing) -> None:
        self.runtime, self.settings, self.routing = runtime, settings, routing
        self.in_flight: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient() as client:
            self.client = client
            while not stop.is_set():
                room = self.settings.dispatch_concurrency - len(self.in_flight)
                if room <= 0:  # all slots busy: wait for one to free up, not poll the table
                    await asyncio.wait(self.in_flight, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                    continue
                claimed = await self.claim(room)
                for row in claimed:
                    task = asyncio.create_task(self.deliver(row))
                    self.in_flight.add(task)
                    task.add_done_callback(self.in_flight.discard)
                if not claimed:
                    await pause_until(stop, self.runtime.clock, await self.next_due(), 0.5)
            if self.in_flight:
                await asyncio.wait(self.in_flight, timeout=self.settings.send_timeout_seconds + 5)

    async def next_due(self) -> datetime | None:
        async with self.runtime.engine.connect() as conn:
            nxt = (
                await conn.execute(
                    select(func.min(deliveries.c.next_attempt_at)).where(deliveries.c.status == "pending")
                )
            ).scalar()
        due: datetime | None = nxt
        return due

    async def claim(self, limit: int) -> list[Any]:
        now = self.runtime.clock.now()
        lease = now + timedelta(seconds=self.settings.send_timeout_seconds * 3)
        async with self.runtime.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(deliveries)
                    .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
                    .order_by(deliveries.c.urgent.desc(), deliveries.c.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for r in rows:  # leased: no other dispatcher takes it while this one sends
                await conn.execute(update(deliveries).where(*self._key(r)).values(next_attempt_at=lease))
        return list(rows)

    @staticmethod
    def _key(r: Any) -> tuple[Any, ...]:
        return (
            deliveries.c.cause_event_id == r.cause_event_id,
            deliveries.c.recipient == r.recipient,
            deliveries.c.channel == r.channel,
        )

    async def send(self, r: Any) -> None:
        s = self.settings
        if r.channel == "email":
            await send_email(
                host=s.smtp_host,
                port=s.smtp_port,
                sender=s.mail_from,
                to=r.recipient,
                subject=r.subject,
                body=r.body,
                message_id=r.message_id,
                reply_to=s.reply_to,
                timeout=s.send_timeout_seconds,
            )
        else:
            event_type = r.context.get("event_type")
            payload = {
                "type": WEBHOOK_TYPES.get(event_type, event_type),
                "event_type": event_type,
                "ticket": r.context.get("ticket"),
                "template": r.template,
                "subject": r.subject,
                "body": r.body,
                "data": r.context,
            }
            await send_webhook(
                self.client,
                url=r.recipient,
                secrets=signing_secrets(self.routing, r.recipient, r.secret),
                delivery_id=str(r.delivery_id),
                payload=payload,
                now=self.runtime.clock.now(),
                timeout=s.send_timeout_seconds,
            )

    async def deliver(self, r: Any) -> None:
        # One span per attempt, continuing the trace of the handler that decided the delivery;
        # the NotificationSent/Failed recorded in it carries the trace onward.
        attributes = {
            "supportdesk.ticket_id": r.ticket_id,
            "supportdesk.delivery_id": str(r.delivery_id),
            "supportdesk.template": r.template,
            "supportdesk.attempt": r.attempts + 1,
        }
        with tracing.continued_span(
            f"notifier send {r.channel}", r.trace_context, kind=tracing.SpanKind.CLIENT, attributes=attributes
        ):
            await self._deliver(r)

    async def _deliver(self, r: Any) -> None:
        clock, attempts = self.runtime.clock, r.attempts + 1
        try:
            await asyncio.wait_for(self.send(r), self.settings.send_timeout_seconds + 1)
            error = None
        except (SendFailed, TimeoutError) as e:
            error = str(e) or "timed out"
        except Exception as e:  # a bug must not lose the delivery: it retries like a failure
            log.exception("sending %s to %s failed", r.template, r.recipient)
            error = f"{type(e).__name__}: {e}"
        if error is not None:
            tracing.failed(error)
        now = clock.now()
        common = dict(
            ticket_id=r.ticket_id,
            anchor=r.delivery_id,
            producer="notifier",
            clock=clock,
            correlation_id=r.correlation_id or r.delivery_id,
            causation_id=r.cause_event_id,
        )
        event: Envelope[Any] | None
        async with self.runtime.engine.begin() as conn:
            if error is None:
                values: dict[str, Any] = dict(
                    status="sent", attempts=attempts, sent_at=now, last_error=None, next_attempt_at=None
                )
                event = anchored_envelope(
                    NotificationSent(
                        cause_event_id=r.cause_event_id,
                        recipient=r.recipient,
                        channel=r.channel,
                        template=r.template,
                        sent_at=now,
                    ),
                    discriminator="sent",
                    **common,
                )
            elif attempts >= self.settings.max_attempts:
                values = dict(status="dead", attempts=attempts, last_error=error, next_attempt_at=None)
                event = anchored_envelope(
                    NotificationFailed(
                        cause_event_id=r.cause_event_id,
                        recipient=r.recipient,
                        channel=r.channel,
                        attempts=attempts,
                        reason=error,
                    ),
                    discriminator="failed",
                    **common,
                )
            else:
                values = dict(
                    attempts=attempts,
                    last_error=error,
                    next_attempt_at=now + timedelta(seconds=backoff(attempts, self.settings.retry_base_seconds)),
                )
                event = None
            await conn.execute(update(deliveries).where(*self._key(r)).values(**values))
            if event is not None:
                await record(conn, [event])
        if event is not None:
            NOTIFICATIONS.labels(r.channel, "sent" if error is None else "failed").inc()


async def run_dispatcher(runtime: ServiceRuntime[Settings], stop: asyncio.Event) -> None:
    settings = runtime.settings
    await Dispatcher(runtime, settings, load_routing(settings.routing_file)).run(stop)
