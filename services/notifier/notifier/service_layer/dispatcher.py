"""Sending what the ledger holds: concurrently, each send with its own timeout, so a slow or
failing endpoint never holds up the others. Failures retry with exponential backoff and full
jitter; after the last attempt the delivery is dead with its reason and NotificationFailed is
emitted. A claimed delivery is leased, so a crash mid-send lets it be retried later; its
Message-ID / webhook-id stay the same, so a resend is recognisably the same notification.

A send that succeeded while the database was away is not sent again: its outcome waits in memory
(`Dispatcher.unsettled`) and is written to the ledger once the database answers, before anything
new is claimed; the loop rides out the outage instead of restarting (which would forget it). Only
a process that dies while holding such outcomes (or an outage longer than the lease, with another
replica claiming first) resends, with the same Message-ID / webhook-id."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from prometheus_client import Counter

from supportdesk_contract.catalogue import NotificationFailed, NotificationSent
from supportdesk_contract.envelope import Envelope, anchored_envelope
from supportdesk_messaging.outbox import record
from supportdesk_messaging.sealing import unseal
from supportdesk_messaging.timers import pause_until
from supportdesk_messaging.world import is_world_failure
from supportdesk_observability import tracing
from supportdesk_service import signing
from supportdesk_service.runtime import ServiceRuntime

from ..adapters import repository
from ..adapters.channels import SendFailed, send_email, send_webhook
from ..domain.deliveries import (
    ACCESS_TOKEN_MARK,
    VERIFICATION_LINK_MARK,
    WEBHOOK_TYPES,
    Routing,
    verification_link,
    with_access_token,
    with_verification_link,
)
from ..settings import Settings

REQUESTER = "requester"

log = logging.getLogger(__name__)

NOTIFICATIONS = Counter(
    "supportdesk_notifications_total",
    "Deliveries finished: sent, or failed after the last attempt",
    ["channel", "outcome"],
)
UNSETTLED = Counter(
    "supportdesk_notifier_outcomes_held_total",
    "Send outcomes held in memory because the ledger could not be written (the database was away)",
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


@dataclass(frozen=True)
class _Outcome:
    """What an attempt came to, kept until the ledger has it."""

    row: Any
    attempts: int
    error: str | None
    at: datetime


def backoff(attempt: int, base: float) -> float:
    """Full jitter: uniformly up to base x 2^attempt seconds."""
    return random.uniform(0, base * (2**attempt))


class Dispatcher:
    def __init__(self, runtime: ServiceRuntime[Settings], settings: Settings, routing: Routing) -> None:
        self.runtime, self.settings, self.routing = runtime, settings, routing
        self.in_flight: set[asyncio.Task[None]] = set()
        # Outcomes of finished sends the ledger has not taken yet, by delivery key.
        self.unsettled: dict[tuple[Any, ...], _Outcome] = {}

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient() as client:
            self.client = client
            while not stop.is_set():
                try:
                    await self.step(stop)
                except Exception as e:
                    if not is_world_failure(e):
                        raise
                    log.warning("the ledger is unreachable (%s); %d outcomes held", e, len(self.unsettled))
                    await pause_until(stop, self.runtime.clock, None, 1.0)
            if self.in_flight:
                await asyncio.wait(self.in_flight, timeout=self.settings.send_timeout_seconds + 5)
            if self.unsettled:
                await self.settle_held()

    async def step(self, stop: asyncio.Event) -> None:
        if self.unsettled:
            await self.settle_held()
        room = self.settings.dispatch_concurrency - len(self.in_flight)
        if room <= 0:  # all slots busy: wait for one to free up, not poll the table
            await asyncio.wait(self.in_flight, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            return
        claimed = await self.claim(room)
        for row in claimed:
            task = asyncio.create_task(self.deliver(row))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
        if not claimed:
            await pause_until(stop, self.runtime.clock, await self.next_due(), 0.5)

    async def settle_held(self) -> None:
        """Write the held outcomes, oldest first; stops at the first that fails (raises)."""
        for key, outcome in list(self.unsettled.items()):
            await self.settle(outcome)
            del self.unsettled[key]

    async def next_due(self) -> datetime | None:
        return await repository.next_due(self.runtime.engine)

    async def claim(self, limit: int) -> list[Any]:
        now = self.runtime.clock.now()
        lease = now + timedelta(seconds=self.settings.send_timeout_seconds * 3)
        rows = await repository.claim(self.runtime.engine, now, lease, limit)
        # One whose outcome this dispatcher holds was sent already (its lease ran out meanwhile).
        return [r for r in rows if self._held_key(r) not in self.unsettled]

    @staticmethod
    def _held_key(r: Any) -> tuple[Any, ...]:
        return (r.cause_event_id, r.recipient, r.channel)

    async def access_token(self, ticket_id: str) -> str | None:
        key = self.settings.requester_token_key.get_secret_value()
        sealed = await repository.requester_token_sealed(self.runtime.engine, ticket_id)
        return unseal(key, sealed) if key and sealed else None

    async def verification_link(self, ticket_id: str) -> str | None:
        key = self.settings.requester_token_key.get_secret_value()
        sealed = await repository.requester_verification_sealed(self.runtime.engine, ticket_id)
        token = unseal(key, sealed) if key and sealed else None
        return verification_link(self.settings.requester_verification_url, ticket_id, token) if token else None

    async def send(self, r: Any) -> None:
        s = self.settings
        if r.channel == "email":
            subject, body = r.subject, r.body
            if ACCESS_TOKEN_MARK in f"{subject}{body}":  # the requester's own email: their token, opened now
                token = await self.access_token(r.ticket_id)
                subject, body = with_access_token(subject, token), with_access_token(body, token)
            if VERIFICATION_LINK_MARK in body:  # the requester's acknowledgement: their one-time link
                link = await self.verification_link(r.ticket_id)
                body = with_verification_link(body, link)
            await send_email(
                relay=s.mail_relay(),
                sender=s.mail_from,
                to=r.recipient,
                subject=subject,
                body=body,
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
            # Named by its delivery id: the recipient is an address (personal), the id finds it in the ledger.
            log.exception("sending %s failed (delivery %s)", r.template, r.delivery_id)
            error = f"{type(e).__name__}: {e}"
        if error is not None:
            tracing.failed(error)
        outcome = _Outcome(r, attempts, error, clock.now())
        try:
            await self.settle(outcome)
        except Exception as e:
            if not is_world_failure(e):
                raise
            # Sent (or failed) but not written down: never let the lease hand it to a resend.
            log.warning("holding the outcome of delivery %s until the ledger answers: %s", r.delivery_id, e)
            UNSETTLED.inc()
            self.unsettled[self._held_key(r)] = outcome

    async def settle(self, outcome: _Outcome) -> None:
        """The ledger row and, when the delivery is finished, its event, in one transaction."""
        r, attempts, error, now = outcome.row, outcome.attempts, outcome.error, outcome.at
        clock = self.runtime.clock
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
            # The requester's address stays out of the log (NotificationSent/Failed outlive an
            # erasure, supportdesk_messaging.personal): they are named "requester" there.
            requester = await repository.requester_email(conn, r.ticket_id)
            recipient = REQUESTER if requester and r.recipient.lower() == requester.lower() else r.recipient
            if error is not None and recipient == REQUESTER:
                error = error.replace(r.recipient, REQUESTER)
            if error is None:
                values: dict[str, Any] = dict(
                    status="sent", attempts=attempts, sent_at=now, last_error=None, next_attempt_at=None
                )
                event = anchored_envelope(
                    NotificationSent(
                        cause_event_id=r.cause_event_id,
                        recipient=recipient,
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
                        recipient=recipient,
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
            if not await repository.settle(conn, r, values):
                # The delivery is gone: its requester was erased while it was being sent. Nothing
                # is recorded (the event would name an address the erasure has just forgotten).
                event = None
            elif event is not None:
                await record(conn, [event])
        if event is not None:
            NOTIFICATIONS.labels(r.channel, "sent" if error is None else "failed").inc()
