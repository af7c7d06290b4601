"""Inbound phone, once the payload is kept: Twilio's voice, SMS, recording and transcription
webhooks, and a generic phone system's call log. A call becomes a ticket once (by CallSid); its
recording and transcription join that ticket when they arrive (service_layer.inbound)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_contract.clock import Clock

from ..adapters import phone_formats
from ..adapters.email_formats import UnreadablePayload
from ..settings import Settings
from . import inbound
from .inbound import Outcome, parse_or_flag, take


def twilio_form(body: bytes) -> dict[str, str]:
    """A Twilio webhook's form fields (its body, urlencoded)."""
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def _call(
    conn: AsyncConnection, c: phone_formats.TwilioCall, inbound_id: uuid.UUID, settings: Settings, clock: Clock
) -> Outcome:
    return await inbound.receive_call(conn, c, inbound_id, settings=settings, clock=clock)


async def _sms(
    conn: AsyncConnection, m: phone_formats.TwilioSms, inbound_id: uuid.UUID, settings: Settings, clock: Clock
) -> Outcome:
    return await inbound.receive_sms(conn, m, inbound_id, settings=settings, clock=clock)


async def _recording(
    conn: AsyncConnection, r: phone_formats.TwilioRecording, inbound_id: uuid.UUID, settings: Settings, clock: Clock
) -> Outcome:
    return await inbound.attach_to_call(
        conn,
        r.call_sid,
        f"recording:{r.recording_sid}",
        f"Call recording ({r.duration_seconds or '?'} s): {r.url}",
        inbound_id,
        caller=None,
        settings=settings,
        clock=clock,
    )


async def _transcription(
    conn: AsyncConnection, t: phone_formats.TwilioTranscription, inbound_id: uuid.UUID, settings: Settings, clock: Clock
) -> Outcome:
    return await inbound.attach_to_call(
        conn,
        t.call_sid,
        f"transcription:{t.transcription_sid}",
        f"Call transcription: {t.text or '(empty)'}",
        inbound_id,
        caller=None,
        settings=settings,
        clock=clock,
    )


Handle = Callable[[AsyncConnection, Any, uuid.UUID, Settings, Clock], Awaitable[Outcome]]
# source -> (its form's parser, what it does); a source's parser returns what its handler takes.
TWILIO: dict[str, tuple[Callable[[dict[str, Any]], Any], Handle]] = {
    "twilio_voice": (phone_formats.voice, _call),
    "twilio_sms": (phone_formats.sms, _sms),
    "twilio_recording": (phone_formats.recording, _recording),
    "twilio_transcription": (phone_formats.transcription, _transcription),
}


async def take_twilio(
    engine: AsyncEngine, source: str, inbound_id: uuid.UUID, body: bytes, *, settings: Settings, clock: Clock
) -> Outcome | UnreadablePayload:
    """A kept Twilio webhook: parsed (unreadable: flagged, and why returned) and processed once."""
    parse, handle = TWILIO[source]

    async def parse_form() -> Any:
        return parse(twilio_form(body))

    parsed = await parse_or_flag(engine, inbound_id, parse_form, clock=clock)
    if isinstance(parsed, UnreadablePayload):
        return parsed

    async def run(conn: AsyncConnection) -> Outcome:
        return await handle(conn, parsed, inbound_id, settings, clock)

    return await take(engine, inbound_id, run, clock=clock)


async def take_call_log(
    engine: AsyncEngine, inbound_id: uuid.UUID, body: bytes, *, settings: Settings, clock: Clock
) -> Outcome | UnreadablePayload:
    """A kept call log (JSON): one ticket per call_id; unreadable: flagged, and why returned."""

    async def parse() -> phone_formats.GenericCall:
        try:
            payload = json.loads(body)
        except ValueError as e:
            raise UnreadablePayload("body", f"not JSON: {e}") from None
        return phone_formats.generic_call(payload)

    c = await parse_or_flag(engine, inbound_id, parse, clock=clock)
    if isinstance(c, UnreadablePayload):
        return c
    call = c

    async def handle(conn: AsyncConnection) -> Outcome:
        return await inbound.open_call_ticket(
            conn,
            inbound_id,
            key=f"phonecall:{call.call_id}",
            caller=call.caller_number,
            settings=settings,
            clock=clock,
            subject=call.subject or f"Call from {call.caller_name or call.caller_number}",
            description=f"{call.summary}\n\n(logged by {call.agent})",
            requester_email=call.caller_email,
            suggested_priority=call.priority,
            severity=call.severity,
            requester_verified=True,  # an agent spoke to the caller and logged the call
        )

    return await take(engine, inbound_id, handle, clock=clock)
