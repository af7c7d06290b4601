"""Inbound email by raw MIME, Mailgun, SendGrid and Postmark; re-processing what was kept.

Every payload that passes authentication is kept raw (committed on its own) before it is parsed.
What cannot be read is flagged `unreadable` and answered so the vendor stops retrying what it
cannot fix (Mailgun: 406, Postmark: 403, SendGrid: 200, which it otherwise retries for days;
raw MIME: 422). A failure while processing leaves it flagged `failed`, for re-processing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from supportdesk_service import guard, rate_limits, signing
from supportdesk_service.problems import Problem
from supportdesk_service.runtime import ServiceRuntime

from ...adapters import email_formats
from ...adapters.email_formats import UnreadablePayload
from ...domain.inbound import InboundEmail
from ...service_layer import inbound
from ...settings import Settings
from . import Runtime
from .inbound_common import (
    PROCESSORS,
    Processor,
    form_of,
    keep_raw,
    read_limited,
    require_basic_auth,
    settings_of,
    unreadable,
)

# Limited per sending address before the body is read (the vendors' addresses, our MTA's).
router = APIRouter(
    prefix="/v1/inbound",
    tags=["inbound"],
    dependencies=[rate_limits.per_address(rate_limits.INBOUND_ADDRESS)],
    responses=rate_limits.answers(),
)

# (body, content type, trusted authserv-ids) -> the parsed message with its authenticity
Parser = Callable[[bytes, str | None, frozenset[str]], Awaitable[InboundEmail]]


async def parse_raw(body: bytes, _: str | None, trusted_ids: frozenset[str]) -> InboundEmail:
    return email_formats.from_mime(body, trusted_ids=trusted_ids)


async def parse_mailgun(body: bytes, content_type: str | None, trusted_ids: frozenset[str]) -> InboundEmail:
    fields, files = await form_of(body, content_type)
    return email_formats.from_mailgun(fields, files, trusted_ids=trusted_ids)


async def parse_sendgrid(body: bytes, content_type: str | None, trusted_ids: frozenset[str]) -> InboundEmail:
    fields, files = await form_of(body, content_type)
    return email_formats.from_sendgrid(fields, files, trusted_ids=trusted_ids)


async def parse_postmark(body: bytes, _: str | None, trusted_ids: frozenset[str]) -> InboundEmail:
    try:
        payload = await guard.parse_json(body)
    except ValueError as e:
        raise UnreadablePayload("body", f"not JSON: {e}") from None
    return email_formats.from_postmark(payload, trusted_ids=trusted_ids)


def _body(media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The request body as the vendor sends it, for the OpenAPI document (the route reads it raw)."""
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


_STR = {"type": "string"}
RAW_BODY = _body("message/rfc822", {"type": "string", "description": "an RFC 5322 message"})
SENDGRID_BODY = _body(
    "multipart/form-data",
    {
        "type": "object",
        "properties": {
            k: _STR
            for k in (
                "headers",
                "from",
                "to",
                "cc",
                "subject",
                "text",
                "html",
                "envelope",
                "charsets",
                "attachments",
                "attachment-info",
                "email",
                "SPF",
                "dkim",
            )
        },
        "required": ["from"],
    },
)
POSTMARK_BODY = _body(
    "application/json",
    {
        "type": "object",
        "properties": {
            "FromFull": {"type": "object", "properties": {"Email": _STR, "Name": _STR}},
            "ToFull": {"type": "array", "items": {"type": "object", "properties": {"Email": _STR, "Name": _STR}}},
            "Subject": _STR,
            "TextBody": _STR,
            "HtmlBody": _STR,
            "StrippedTextReply": _STR,
            "MessageID": _STR,
            "MailboxHash": _STR,
            "OriginalRecipient": _STR,
            "Headers": {"type": "array", "items": {"type": "object", "properties": {"Name": _STR, "Value": _STR}}},
            "Attachments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "Name": _STR,
                        "Content": _STR,
                        "ContentType": _STR,
                        "ContentLength": {"type": "integer"},
                    },
                },
            },
        },
    },
)
MAILGUN_BODY = _body(
    "application/x-www-form-urlencoded",
    {
        "type": "object",
        "properties": {
            k: _STR
            for k in (
                "recipient",
                "sender",
                "from",
                "subject",
                "body-plain",
                "stripped-text",
                "body-html",
                "message-headers",
                "Message-Id",
                "In-Reply-To",
                "References",
                "timestamp",
                "token",
                "signature",
            )
        },
        "required": ["timestamp", "token", "signature"],
    },
)

PARSERS: dict[str, Parser] = {
    "raw_email": parse_raw,
    "imap": parse_raw,  # kept by the mailbox reader; parsed again only when re-processed
    "mailgun": parse_mailgun,
    "sendgrid": parse_sendgrid,
    "postmark": parse_postmark,
}
UNREADABLE_STATUS = {"raw_email": 422, "imap": 422, "mailgun": 406, "sendgrid": 200, "postmark": 403}


async def process(
    runtime: ServiceRuntime[Settings], source: str, inbound_id: uuid.UUID, body: bytes, content_type: str | None
) -> JSONResponse:
    engine, clock = runtime.engine, runtime.clock

    async def parse() -> InboundEmail:
        return await PARSERS[source](body, content_type, settings_of(runtime).trusted_authserv_id_set())

    email = await inbound.parse_or_flag(engine, inbound_id, parse, clock=clock)
    if isinstance(email, UnreadablePayload):
        return unreadable(inbound_id, email, UNREADABLE_STATUS[source])
    outcome = await inbound.take_email(engine, email, inbound_id, settings=settings_of(runtime), clock=clock)
    return JSONResponse(
        {"inbound_id": str(inbound_id), **outcome.as_json()},
        status_code=201 if outcome.outcome == "ticket_opened" else 200,
    )


async def keep_and_process(
    runtime: ServiceRuntime[Settings], request: Request, source: str, body: bytes
) -> JSONResponse:
    """Only for an authenticated caller: text PostgreSQL cannot store is refused (422), then the
    payload is kept and processed."""
    await guard.refuse_unstorable_body(body, request.headers.get("content-type"))
    inbound_id = await keep_raw(runtime, request, source, body)
    return await process(runtime, source, inbound_id, body, request.headers.get("content-type"))


def _processor(source: str) -> Processor:
    async def run(
        runtime: ServiceRuntime[Settings], inbound_id: uuid.UUID, body: bytes, content_type: str | None
    ) -> Response:
        return await process(runtime, source, inbound_id, body, content_type)

    return run


PROCESSORS.update({source: _processor(source) for source in PARSERS})


@router.post(
    "/email",
    openapi_extra=RAW_BODY,
    status_code=201,
    responses={200: {"description": "a reply, a duplicate or an auto-reply"}, 401: {}, 413: {}, 415: {}, 422: {}},
)
async def raw_email(request: Request, runtime: Runtime) -> JSONResponse:
    """A raw RFC 5322 message (`Content-Type: message/rfc822`), e.g. piped from your MTA."""
    require_basic_auth(request, runtime)
    if (request.headers.get("content-type") or "").split(";")[0].strip().lower() != "message/rfc822":
        raise Problem(415, "Unsupported Media Type", "send the message as Content-Type: message/rfc822")
    body = await read_limited(request, settings_of(runtime).max_email_bytes)
    return await keep_and_process(runtime, request, "raw_email", body)


@router.post("/email/mailgun", openapi_extra=MAILGUN_BODY, status_code=201, responses={401: {}, 406: {}, 413: {}})
async def mailgun(request: Request, runtime: Runtime) -> JSONResponse:
    """Mailgun's routed form, signed: hex HMAC-SHA256 of timestamp + token with the signing key,
    timestamps within the window, each token used once."""
    settings = settings_of(runtime)
    body = await read_limited(request, settings.max_email_bytes)
    try:
        fields, _ = await form_of(body, request.headers.get("content-type"))
    except UnreadablePayload:
        fields = {}
    timestamp, token, signature = (str(fields.get(k, "")) for k in ("timestamp", "token", "signature"))
    key = settings.mailgun_signing_key.get_secret_value()
    valid = bool(key and timestamp and token and signature) and signing.same(
        signing.hmac_hex(key, (timestamp + token).encode()), signature
    )
    if not valid or not signing.fresh(timestamp, runtime.clock.now(), settings.signature_window_seconds):
        raise Problem(401, "Unauthorized", "missing, invalid or stale Mailgun signature")
    keep = timedelta(seconds=2 * settings.signature_window_seconds)
    if not await inbound.first_use_of_token(runtime.engine, f"mailgun:{token}", keep=keep, clock=runtime.clock):
        raise Problem(401, "Unauthorized", "this Mailgun token was used before (a replay)")
    return await keep_and_process(runtime, request, "mailgun", body)


@router.post("/email/sendgrid", openapi_extra=SENDGRID_BODY, status_code=201, responses={401: {}, 413: {}})
async def sendgrid(request: Request, runtime: Runtime) -> JSONResponse:
    """SendGrid Inbound Parse (parsed or raw mode), behind HTTP basic auth."""
    require_basic_auth(request, runtime)
    body = await read_limited(request, settings_of(runtime).max_email_bytes)
    return await keep_and_process(runtime, request, "sendgrid", body)


@router.post("/email/postmark", openapi_extra=POSTMARK_BODY, status_code=201, responses={401: {}, 403: {}, 413: {}})
async def postmark(request: Request, runtime: Runtime) -> JSONResponse:
    """Postmark's inbound JSON, behind HTTP basic auth."""
    require_basic_auth(request, runtime)
    body = await read_limited(request, settings_of(runtime).max_email_bytes)
    return await keep_and_process(runtime, request, "postmark", body)
