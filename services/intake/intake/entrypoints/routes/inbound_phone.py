"""Inbound phone: Twilio's voice, SMS, recording and transcription webhooks, and a generic phone
system's signed JSON. Each is authenticated, kept raw, handed to service_layer.phone, and answered:
Twilio's in TwiML (the voice webhook thanks the caller and records them), the call log in JSON."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from supportdesk_service import guard, rate_limits, signing
from supportdesk_service.problems import Problem
from supportdesk_service.runtime import ServiceRuntime

from ...adapters import phone_formats
from ...adapters.email_formats import UnreadablePayload
from ...service_layer import phone
from ...service_layer.inbound import Outcome
from ...settings import Settings
from . import Runtime
from .inbound_common import PROCESSORS, Processor, keep_raw, read_limited, settings_of, unreadable

# Limited per sending address before the body is read (the phone vendor's, the phone system's).
router = APIRouter(
    prefix="/v1/inbound/phone",
    tags=["inbound"],
    dependencies=[rate_limits.per_address(rate_limits.INBOUND_ADDRESS)],
    responses=rate_limits.answers(),
)

MAX_PHONE_BYTES = 1024 * 1024
TWIML = "application/xml"


def public_url(request: Request) -> str:
    """The URL the caller used, as Twilio signed it: behind a proxy, from X-Forwarded-Proto/-Host."""
    scheme = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc)).split(",")[0]
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{scheme}://{host.strip()}{request.url.path}{query}"


def _answer(source: str, outcome: Outcome | None, base: str) -> Response:
    """TwiML: the caller is thanked and recorded; a texter learns their ticket's number."""
    number = outcome.number if outcome is not None else None
    if source == "twilio_voice":
        return Response(phone_formats.voice_answer(number, base), media_type=TWIML)
    if source == "twilio_sms" and number:
        return Response(phone_formats.sms_answer(number), media_type=TWIML)
    return Response(phone_formats.twiml(), media_type=TWIML)


async def process_twilio(
    runtime: ServiceRuntime[Settings], source: str, inbound_id: uuid.UUID, body: bytes, base: str
) -> Response:
    settings = runtime.settings
    result = await phone.take_twilio(runtime.engine, source, inbound_id, body, settings=settings, clock=runtime.clock)
    if isinstance(result, UnreadablePayload):
        if source == "twilio_voice":  # the caller is on the line: answer, never an error tone
            return _answer(source, None, base)
        return unreadable(inbound_id, result, 400)
    return _answer(source, result, base)


async def twilio(request: Request, runtime: ServiceRuntime[Settings], source: str) -> Response:
    settings = settings_of(runtime)
    body = await read_limited(request, MAX_PHONE_BYTES)
    # Twilio signs the URL and the parsed fields: they are parsed (bounded, off the loop) first.
    params = await guard.parse_form(body, errors="replace")
    url = public_url(request)
    if not phone_formats.twilio_valid(
        settings.twilio_auth_token.get_secret_value(), url, params, request.headers.get("x-twilio-signature", "")
    ):
        raise Problem(401, "Unauthorized", "missing or invalid X-Twilio-Signature")
    await guard.refuse_unstorable_body(body, request.headers.get("content-type"))
    inbound_id = await keep_raw(runtime, request, source, body)
    base = url.split("/v1/inbound/phone/", 1)[0]
    return await process_twilio(runtime, source, inbound_id, body, base)


@router.post("/twilio/voice", response_class=Response, responses={200: {"content": {TWIML: {}}}, 401: {}, 413: {}})
async def twilio_voice(request: Request, runtime: Runtime) -> Response:
    """An incoming call: a ticket once per CallSid; TwiML thanks the caller and records a message."""
    return await twilio(request, runtime, "twilio_voice")


@router.post("/twilio/sms", response_class=Response, responses={200: {"content": {TWIML: {}}}, 401: {}, 413: {}})
async def twilio_sms(request: Request, runtime: Runtime) -> Response:
    """A text: a ticket once per MessageSid, or a reply when it starts with the ticket's number."""
    return await twilio(request, runtime, "twilio_sms")


@router.post("/twilio/recording", response_class=Response, responses={401: {}, 400: {}, 413: {}})
async def twilio_recording(request: Request, runtime: Runtime) -> Response:
    """A call's recording is ready: it joins the call's ticket."""
    return await twilio(request, runtime, "twilio_recording")


@router.post("/twilio/transcription", response_class=Response, responses={401: {}, 400: {}, 413: {}})
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
    settings = runtime.settings
    result = await phone.take_call_log(runtime.engine, inbound_id, body, settings=settings, clock=runtime.clock)
    if isinstance(result, UnreadablePayload):
        return unreadable(inbound_id, result, 422, "Invalid call log")
    return JSONResponse(
        {"inbound_id": str(inbound_id), **result.as_json()},
        status_code=201 if result.outcome == "ticket_opened" else 200,
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
    await guard.refuse_unstorable_body(body, request.headers.get("content-type"))
    inbound_id = await keep_raw(runtime, request, "phone_generic", body)
    return await process_generic(runtime, inbound_id, body, request.headers.get("content-type"))


def _twilio_processor(source: str) -> Processor:
    async def reprocess(
        runtime: ServiceRuntime[Settings], inbound_id: uuid.UUID, body: bytes, _: str | None
    ) -> Response:
        return await process_twilio(runtime, source, inbound_id, body, "")

    return reprocess


PROCESSORS.update({s: _twilio_processor(s) for s in phone.TWILIO})
PROCESSORS["phone_generic"] = process_generic
