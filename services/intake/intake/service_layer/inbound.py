"""Inbound mail, after it is kept raw: one ticket or one reply, exactly once, never from a machine.

Order: machines (auto-replies, bounces) are recorded and ignored; mail claiming a staff domain
that nothing proves comes from it is kept and flagged `unverified` (no ticket, listed by
`GET /v1/inbound?outcome=unverified`); a Message-ID seen before is a duplicate of its first
delivery; the message then threads onto a ticket (subject token, our own or a known Message-ID in
In-Reply-To/References, plus-address) if its sender may write there, and otherwise opens a new
ticket under the sender's customer (or none).

Who may write on a ticket: staff whose From domain is proven (DMARC semantics); the requester and
their customer's people unless the verdicts fail (with no verdict at all, e.g. a raw message
without a trusted Authentication-Results header, their From is taken as today).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.catalogue import Channel
from supportdesk_contract.clock import Clock

from ..adapters import customers
from ..adapters import inbound_store as store
from ..adapters.email_formats import UnreadablePayload
from ..domain.customers import normalise_phone
from ..domain.inbound import (
    InboundEmail,
    auto_reply_reason,
    claims_staff,
    forwarded_requester,
    is_staff,
    outbound_ticket_number,
    thread_message_ids,
    ticket_numbers,
)
from ..domain.ticket import OpenTicket
from ..settings import Settings
from . import commands

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    outcome: str  # ticket_opened | reply_added | duplicate | auto_reply_ignored | unverified
    ticket_id: str | None = None
    number: str | None = None
    detail: str | None = None
    authenticated: bool | None = None  # email only: whether its From domain is proven
    authentication: str | None = None  # why (or why not)

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


async def _may_write_to(conn: AsyncConnection, ticket_id: str, email: InboundEmail, staff: frozenset[str]) -> bool:
    """A thread key is not a credential: only the requester, their customer's people or staff add
    to it, and a From address the verdicts disprove is nobody's."""
    if is_staff(email, staff):
        return True
    if email.authenticity.verdict == "fail":
        return False
    parties = await store.ticket_parties(conn, ticket_id)
    if parties is None:
        return False
    requester_email, customer_id = parties
    sender = email.sender
    if sender == (requester_email or "").lower():
        return True
    found = await customers.match(conn, email=sender)
    return customer_id is not None and found is not None and found.customer_id == customer_id


async def _thread(conn: AsyncConnection, email: InboundEmail, prefix: str) -> str | None:
    numbers = ticket_numbers(email, prefix)
    ids = thread_message_ids(email)
    numbers += [n for i in ids if (n := outbound_ticket_number(i, prefix))]
    return await store.ticket_by_number(conn, numbers) or await store.ticket_by_message_ids(conn, ids)


async def receive_email(
    conn: AsyncConnection, email: InboundEmail, inbound_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> Outcome:
    outcome = await _receive_email(conn, email, inbound_id, settings=settings, clock=clock)
    return replace(outcome, authenticated=email.authenticity.authenticated, authentication=email.authenticity.reason)


async def _receive_email(
    conn: AsyncConnection, email: InboundEmail, inbound_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> Outcome:
    # Whatever becomes of it (an auto-reply, a reply on a colleague's ticket), an erasure of the
    # sender finds it.
    await store.remember_sender(conn, inbound_id, email.sender)
    reason = auto_reply_reason(email)
    if reason is not None:
        return Outcome("auto_reply_ignored", detail=reason)
    staff = settings.staff_domain_set()
    if claims_staff(email, staff) and not is_staff(email, staff):
        # Before the Message-ID is claimed: re-processed once the hop is trusted, it is not a duplicate.
        why = f"From {email.sender} claims a staff domain, unproven ({email.authenticity.reason}): kept, not filed"
        return Outcome("unverified", detail=why)
    key = f"email:{email.message_id}" if email.message_id else None
    if key is not None and (first := await store.earlier_claim(conn, key, inbound_id)) is not None:
        return Outcome("duplicate", ticket_id=first.ticket_id, detail=f"Message-ID {email.message_id} seen before")
    attachments = await store.store_attachments(conn, email.attachments, settings.max_attachment_bytes)
    ticket_id = await _thread(conn, email, settings.ticket_number_prefix)
    detail: str | None = None
    if ticket_id is not None and not await _may_write_to(conn, ticket_id, email, staff):
        who = "unverified" if email.authenticity.verdict == "fail" else "not on that ticket"
        detail = f"thread key from {email.sender}, who is {who} ({email.authenticity.reason}): opened a new one"
        ticket_id = None
    if ticket_id is not None:
        await commands.run_on(
            conn,
            ticket_id,
            lambda t: t.customer_reply(email.text or "(no text)", Channel.EMAIL, email.message_id, attachments),
            clock,
        )
        number = await store.number_of(conn, ticket_id)
        result = Outcome("reply_added", ticket_id, number)
    else:
        forwarded_for = forwarded_requester(email, staff)
        description = email.text or "(no text)"
        if forwarded_for:
            description = f"{description}\n\n(forwarded by {email.sender} for {forwarded_for})"
        opened = await commands.open_ticket(
            conn,
            OpenTicket(
                channel=Channel.EMAIL,
                subject=email.subject or "(no subject)",
                description=description,
                requester_email=forwarded_for or email.sender,
                opened_by_staff=email.sender if forwarded_for else None,
                attachments=attachments,
                # A staff forward is filed only once the staff sender is proven (above).
                requester_verified=bool(forwarded_for) or email.authenticity.authenticated,
            ),
            number_prefix=settings.ticket_number_prefix,
            token_key=settings.requester_token_key.get_secret_value(),
            clock=clock,
        )
        result = Outcome("ticket_opened", opened.ticket_id, opened.number, detail)
    await store.remember_message_id(conn, email.message_id, result.ticket_id or "")
    if key is not None and result.ticket_id is not None:
        await store.settle(conn, key, result.ticket_id)
    return result


# --- kept payloads: every inbound channel keeps what came in before parsing it ----------------


async def keep_raw(
    engine: AsyncEngine, *, source: str, body: bytes, content_type: str | None, headers: dict[str, str], clock: Clock
) -> uuid.UUID:
    """Kept, committed on its own, before anything parses it: a parser bug loses nothing."""
    async with engine.begin() as conn:
        return await store.keep_raw(
            conn, source=source, body=body, content_type=content_type, headers=headers, now=clock.now()
        )


async def flag(engine: AsyncEngine, inbound_id: uuid.UUID, outcome: str, detail: str, *, clock: Clock) -> None:
    async with engine.begin() as conn:
        await store.set_outcome(conn, inbound_id, outcome, now=clock.now(), detail=detail)


T = TypeVar("T")


async def parse_or_flag(
    engine: AsyncEngine, inbound_id: uuid.UUID, parse: Callable[[], Awaitable[T]], *, clock: Clock
) -> T | UnreadablePayload:
    """Run a parser. Whatever it raises, the payload is kept: an unreadable one is flagged with
    the reason (and the reason returned), and a parser bug is flagged the same way, to be
    re-processed after the fix."""
    try:
        return await parse()
    except UnreadablePayload as e:
        problem = e
    except Exception as e:
        log.exception("parser failed on inbound %s", inbound_id)
        problem = UnreadablePayload("body", f"parser failed: {type(e).__name__}: {e}")
    await flag(engine, inbound_id, "unreadable", str(problem), clock=clock)
    return problem


OnSuccess = Callable[[AsyncConnection], Awaitable[None]]


async def take(
    engine: AsyncEngine,
    inbound_id: uuid.UUID,
    handle: Callable[[AsyncConnection], Awaitable[Outcome]],
    *,
    clock: Clock,
    also: OnSuccess | None = None,
) -> Outcome:
    """Process a kept, parsed payload in one transaction with its outcome (and `also`, e.g. a
    mailbox's bookkeeping). If processing raises, the payload is flagged `failed`, to be
    re-processed after a fix, and the error propagates."""
    try:
        async with engine.begin() as conn:
            outcome = await handle(conn)
            await store.set_outcome(
                conn, inbound_id, outcome.outcome, now=clock.now(), detail=outcome.detail, ticket_id=outcome.ticket_id
            )
            if also is not None:
                await also(conn)
    except Exception as e:
        log.exception("inbound %s failed while processing; kept for re-processing", inbound_id)
        await flag(engine, inbound_id, "failed", f"{type(e).__name__}: {e}", clock=clock)
        raise
    return outcome


async def take_email(
    engine: AsyncEngine,
    email: InboundEmail,
    inbound_id: uuid.UUID,
    *,
    settings: Settings,
    clock: Clock,
    also: OnSuccess | None = None,
) -> Outcome:
    """A kept, parsed email: one ticket or one reply (`take`)."""

    async def handle(conn: AsyncConnection) -> Outcome:
        return await receive_email(conn, email, inbound_id, settings=settings, clock=clock)

    return await take(engine, inbound_id, handle, clock=clock, also=also)


@dataclass(frozen=True)
class Kept:
    source: str
    body: bytes
    content_type: str | None


async def kept(engine: AsyncEngine, inbound_id: uuid.UUID) -> Kept | None:
    """A kept payload as it came in, to process again (None: no such inbound message)."""
    async with engine.connect() as conn:
        row = await store.get_raw(conn, inbound_id)
    return None if row is None else Kept(row.source, bytes(row.body), row.content_type)


async def listing(engine: AsyncEngine, outcome: str | None, limit: int) -> list[dict[str, Any]]:
    """What came in, newest first (`outcome`: only those, e.g. what needs a look)."""
    async with engine.connect() as conn:
        return await store.listing(conn, outcome, limit)


async def first_use_of_token(engine: AsyncEngine, token: str, *, keep: timedelta, clock: Clock) -> bool:
    """Replay protection for signed webhooks: True the first time a token is seen (committed)."""
    async with engine.begin() as conn:
        return await store.first_use_of_token(conn, token, clock.now(), keep)


# --- phone: calls, texts, their recordings and transcriptions -----------------------------------


async def open_call_ticket(
    conn: AsyncConnection,
    inbound_id: uuid.UUID,
    *,
    key: str,
    caller: str,
    subject: str,
    description: str,
    settings: Settings,
    clock: Clock,
    **extra: Any,
) -> Outcome:
    """One ticket per call (or SMS, or logged call): the first delivery opens it, repeats find it."""
    await store.remember_sender(conn, inbound_id, caller)
    first = await store.earlier_claim(conn, key, inbound_id)
    if first is not None:
        return Outcome("duplicate", first.ticket_id, detail=f"{key} seen before")
    opened = await commands.open_ticket(
        conn,
        OpenTicket(channel=Channel.PHONE, subject=subject, description=description, requester_phone=caller, **extra),
        number_prefix=settings.ticket_number_prefix,
        token_key=settings.requester_token_key.get_secret_value(),
        clock=clock,
    )
    await store.settle(conn, key, opened.ticket_id)
    return Outcome("ticket_opened", opened.ticket_id, opened.number)


async def receive_call(
    conn: AsyncConnection, call: Any, inbound_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> Outcome:
    return await open_call_ticket(
        conn,
        inbound_id,
        key=f"call:{call.call_sid}",
        caller=call.caller,
        settings=settings,
        clock=clock,
        subject=f"Phone call from {call.caller}",
        description=f"Call {call.call_sid} to {call.called} ({call.status or 'received'}). The recording and its "
        "transcription are added when they arrive.",
    )


async def receive_sms(
    conn: AsyncConnection, message: Any, inbound_id: uuid.UUID, *, settings: Settings, clock: Clock
) -> Outcome:
    """A text opens a ticket, unless it starts with a ticket number and comes from that ticket's phone."""
    words = message.body.split()
    named = (
        words[0].upper() if words and re.fullmatch(rf"{settings.ticket_number_prefix}-\d+", words[0], re.I) else None
    )
    ticket_id = await store.ticket_by_number(conn, [named]) if named else None
    phone = await store.requester_phone_of(conn, ticket_id) if ticket_id is not None else None
    if ticket_id is not None and normalise_phone(phone or "") == normalise_phone(message.sender):
        key = f"sms:{message.message_sid}"
        if (first := await store.earlier_claim(conn, key, inbound_id)) is not None:
            return Outcome("duplicate", first.ticket_id, detail=f"{key} seen before")
        await commands.run_on(conn, ticket_id, lambda t: t.customer_reply(message.body, Channel.PHONE), clock)
        await store.settle(conn, key, ticket_id)
        return Outcome("reply_added", ticket_id, named)
    return await open_call_ticket(
        conn,
        inbound_id,
        key=f"sms:{message.message_sid}",
        caller=message.sender,
        settings=settings,
        clock=clock,
        subject=f"Text message from {message.sender}",
        description=message.body or "(empty message)",
    )


async def attach_to_call(
    conn: AsyncConnection,
    call_sid: str,
    key: str,
    text: str,
    inbound_id: uuid.UUID,
    *,
    caller: str | None,
    settings: Settings,
    clock: Clock,
) -> Outcome:
    """A recording or transcription joins its call's ticket, once; if the call was never seen, it
    opens the ticket itself (nothing is dropped)."""
    if (first := await store.earlier_claim(conn, key, inbound_id)) is not None:
        return Outcome("duplicate", first.ticket_id, detail=f"{key} seen before")
    ticket_id = await store.ticket_of_key(conn, f"call:{call_sid}")
    if ticket_id is None:
        opened = await open_call_ticket(
            conn,
            inbound_id,
            key=f"call:{call_sid}",
            caller=caller or "unknown",
            subject=f"Phone call {call_sid}",
            description=text,
            settings=settings,
            clock=clock,
        )
        await store.settle(conn, key, opened.ticket_id or "")
        return opened
    await commands.run_on(conn, ticket_id, lambda t: t.customer_reply(text, Channel.PHONE), clock)
    await store.settle(conn, key, ticket_id)
    return Outcome("attached", ticket_id)
