"""Inbound phone: Twilio's voice, SMS, recording and transcription webhooks, and a generic phone
system's signed JSON. A call becomes a ticket once (by CallSid); its recording and transcription
join that ticket when they arrive; the voice webhook answers with TwiML."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from supportdesk_service import signing
from supportdesk_service.problems import Problem
from supportdesk_service.runtime import ServiceRuntime

from ...adapters import inbound_store as store
from ...adapters import phone_formats
from ...adapters.email_formats import UnreadablePayload
from ...service_layer import inbound
from ...service_layer.inbound import Outcome
from ...settings import Settings
from . import Runtime
from .inbound_common import PROCESSORS, flag, keep_raw, parse_or_flag, read_limited, settings_of, unreadable

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/inbound/phone", tags=["inbound"])

MAX_PHONE_BYTES = 1024 * 1024
TWIML = "application/xml"


def public_url(request: Request) -> str:
    """The URL the caller used, as Twilio signed it: behind a proxy, from X-Forwarded-Proto/-Host."""
    scheme = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc)).split(",")[0]
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{scheme}://{host.strip()}{request.url.path}{query}"


def twiml(build: Callable[[ET.Element], None] | None = None) -> Response:
    root = ET.Element("Response")
    if build is not None:
        build(root)
    body = b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="utf-8")
    return Response(body, media_type=TWIML)


def spoken(number: str) -> str:
    """'TKT-1042' read out as 'T K T 1 0 4 2'."""
    return " ".join(ch for ch in number if ch.isalnum())


Handle = Callable[[AsyncConnection, Any, uuid.UUID], Awaitable[Outcome]]


async def run(runtime: ServiceRuntime[Settings], inbound_id: uuid.UUID, parsed: Any, handle: Handle) -> Outcome:
    try:
        async with runtime.engine.begin() as conn:
            outcome = await handle(conn, parsed, inbound_id)
            await store.set_outcome(
                conn,
                inbound_id,
                outcome.outcome,
                now=runtime.clock.now(),
                detail=outcome.detail,
                ticket_id=outcome.ticket_id,
            )
            return outcome
    except Exception as e:
        log.exception("inbound %s failed while processing; kept for re-processing", inbound_id)
        await flag(runtime, inbound_id, "failed", f"{type(e).__name__}: {e}")
        raise


# --- Twilio -------------------------------------------------------------------------------------


async def _call(conn: AsyncConnection, c: Any, inbound_id: uuid.UUID, runtime: ServiceRuntime[Settings]) -> Outcome:
    return await inbound.receive_call(conn, c, inbound_id, settings=settings_of(runtime), clock=runtime.clock)


async def _sms(conn: AsyncConnection, m: Any, inbound_id: uuid.UUID, runtime: ServiceRuntime[Settings]) -> Outcome:
    return await inbound.receive_sms(conn, m, inbound_id, settings=settings_of(runtime), clock=runtime.clock)


async def _recording(
    conn: AsyncConnection, r: Any, inbound_id: uuid.UUID, runtime: ServiceRuntime[Settings]
) -> Outcome:
    return await inbound.attach_to_call(
        conn,
        r.call_sid,
        f"recording:{r.recording_sid}",
        f"Call recording ({r.duration_seconds or '?'} s): {r.url}",
        inbound_id,
        caller=None,
        settings=settings_of(runtime),
        clock=runtime.clock,
    )


async def _transcription(
    conn: AsyncConnection, t: Any, inbound_id: uuid.UUID, runtime: ServiceRuntime[Settings]
) -> Outcome:
    return await inbound.attach_to_call(
        conn,
        t.call_sid,
        f"transcription:{t.transcription_sid}",
        f"Call transcription: {t.text or '(empty)'}",
        inbound_id,
        caller=None,
        settings=settings_of(runtime),
        clock=runtime.clock,
    )


TwilioHandler = Callable[[AsyncConnection, Any, uuid.UUID, ServiceRuntime[Settings]], Awaitable[Outcome]]
TWILIO: dict[str, tuple[Callable[[dict[str, Any]], Any], TwilioHandler]] = {
    "twilio_voice": (phone_formats.voice, _call),
    "twilio_sms": (phone_formats.sms, _sms),
    "twilio_recording": (phone_formats.recording, _recording),
    "twilio_transcription": (phone_formats.transcription, _transcription),
}


def _answer(source: str, outcome: Outcome | None, base: str) -> Response:
    if source == "twilio_voice":

        def voice(root: ET.Element) -> None:
            say = ET.SubElement(root, "Say")
            if outcome is not None and outcome.number:
                say.text = (
                    f"Thank you for calling support. Your request is logged as ticket "
                    f"{spoken(outcome.number)}. Please describe the problem after the tone."
                )
            else:
                say.text = "Thank you for calling support. Please describe the problem after the tone."
            ET.SubElement(
                root,
                "Record",
                maxLength="300",
                playBeep="true",
                transcribe="true",
                recordingStatusCallback=f"{base}/v1/inbound/phone/twilio/recording",
                transcribeCallback=f"{base}/v1/inbound/phone/twilio/transcription",
            )

        return twiml(voice)
    if source == "twilio_sms" and outcome is not None and outcome.number:

        def sms(root: ET.Element) -> None:
            ET.SubElement(
                root, "Message"
            ).text = (
                f"Thanks, your request is ticket {outcome.number}. Start a text with {outcome.number} to add to it."
            )

        return twiml(sms)
    return twiml()


async def process_twilio(
    runtime: ServiceRuntime[Settings], source: str, inbound_id: uuid.UUID, body: bytes, base: str
) -> Response:
    parse, handler = TWILIO[source]

    async def parse_form() -> Any:
        return parse(dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))

    parsed, problem = await parse_or_flag(runtime, inbound_id, parse_form)
    if problem is not None:
        if source == "twilio_voice":  # the caller is on the line: answer, never an error tone
            return _answer(source, None, base)
        return unreadable(inbound_id, problem, 400)
    outcome = await run(runtime, inbound_id, parsed, lambda conn, p, iid: handler(conn, p, iid, runtime))
    return _answer(source, outcome, base)


async def twilio(request: Request, runtime: ServiceRuntime[Settings], source: str) -> Response:
    settings = settings_of(runtime)
    body = await read_limited(request, MAX_PHONE_BYTES)
    params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    url = public_url(request)
    if not phone_formats.twilio_valid(
        settings.twilio_auth_token.get_secret_value(), url, params, request.headers.get("x-twilio-signature", "")
    ):
        raise Problem(401, "Unauthorized", "missing or invalid X-Twilio-Signature")
    inbound_id = await keep_raw(runtime, request, source, body)
    base = url.split("/v1/inbound/phone/", 1)[0]
    return await process_twilio(runtime, source, inbound_id, body, base)


@router.post("/twilio/voice", response_class=Response, responses={200: {"content": {TWIML: {}}}, 401: {}})
async def twilio_voice(request: Request, runtime: Runtime) -> Response:
    """An incoming call: a ticket once per CallSid; TwiML thanks the caller and records a message."""
    return await twilio(request, runtime, "twilio_voice")


@router.post("/twilio/sms", response_class=Response, responses={200: {"content": {TWIML: {}}}, 401: {}})
async def twilio_sms(request: Request, runtime: Runtime) -> Response:
    """A text: a ticket once per MessageSid, or a reply when it starts with the ticket's number."""
    return await twilio(request, runtime, "twilio_sms")


@router.post("/twilio/recording", response_class=Response, responses={401: {}, 400: {}})
async def twilio_recording(request: Request, runtime: Runtime) -> Response:
    """A call's recording is ready: it joins the call's ticket."""
    return await twilio(request, runtime, "twilio_recording")


@router.post("/twilio/transcription", response_class=Response, responses={401: {}, 400: {}})
async def twilio_transcription(request: Request, runtime: Runtime) -> Response:
    """A call's transcription is ready: it joins the call's ticket."""
    return await twilio(request, runtime, "twilio_transcription")


# --- a generic phone system -------------------------------------------------------------------

SIGNATURE_HEADER = "x-supportdesk-signature"
TIMESTAMP_HEADER = "x-supportdesk-timestamp"


def phone_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 of `<timestamp>.<raw body>`: the timestamp is signed too."""
    return "sha256=" + signing.hmac_hex(secret, timestamp.encode() + b"." + body)


async def process_generic(
    runtime: ServiceRuntime[Settings], inbound_id: uuid.UUID, body: bytes, _: str | None
) -> Response:
    async def parse() -> phone_formats.GenericCall:
        try:
            payload = json.loads(body)
        except ValueError as e:
            raise UnreadablePayload("body", f"not JSON: {e}") from None
        return phone_formats.generic_call(payload)

    call, problem = await parse_or_flag(runtime, inbound_id, parse)
    if problem is not None:
        return unreadable(inbound_id, problem, 422, "Invalid call log")

    async def handle(conn: AsyncConnection, c: phone_formats.GenericCall, iid: uuid.UUID) -> Outcome:
        settings = settings_of(runtime)
        return await inbound.open_call_ticket(
            conn,
            iid,
            key=f"phonecall:{c.call_id}",
            caller=c.caller_number,
            settings=settings,
            clock=runtime.clock,
            subject=c.subject or f"Call from {c.caller_name or c.caller_number}",
            description=f"{c.summary}\n\n(logged by {c.agent})",
            requester_email=c.caller_email,
            suggested_priority=c.priority,
            severity=c.severity,
        )

    outcome = await run(runtime, inbound_id, call, handle)
    return JSONResponse(
        {"inbound_id": str(inbound_id), **outcome.as_json()},
        status_code=201 if outcome.outcome == "ticket_opened" else 200,
    )


@router.post("", status_code=201, responses={200: {"description": "the same call again"}, 401: {}, 413: {}, 422: {}})
async def generic_phone(request: Request, runtime: Runtime) -> Response:
    """A call logged by a phone system or a person: JSON signed with INTAKE_PHONE_WEBHOOK_SECRET in
    `X-Supportdesk-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`, with
    `X-Supportdesk-Timestamp` (seconds) within the window."""
    settings = settings_of(runtime)
    body = await read_limited(request, MAX_PHONE_BYTES)
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    given = request.headers.get(SIGNATURE_HEADER, "")
    secret = settings.phone_webhook_secret.get_secret_value()
    if not (
        secret
        and timestamp
        and given
        and signing.same(phone_signature(secret, timestamp, body), given)
        and signing.fresh(timestamp, runtime.clock.now(), settings.signature_window_seconds)
    ):
        raise Problem(401, "Unauthorized", "missing, invalid or stale X-Supportdesk-Signature")
    inbound_id = await keep_raw(runtime, request, "phone_generic", body)
    return await process_generic(runtime, inbound_id, body, request.headers.get("content-type"))


def _twilio_processor(source: str) -> Any:
    async def reprocess(
        runtime: ServiceRuntime[Settings], inbound_id: uuid.UUID, body: bytes, _: str | None
    ) -> Response:
        return await process_twilio(runtime, source, inbound_id, body, "")

    return reprocess


PROCESSORS.update(
    {s: _twilio_processor(s) for s in ("twilio_voice", "twilio_sms", "twilio_recording", "twilio_transcription")}
)
PROCESSORS["phone_generic"] = process_generic
