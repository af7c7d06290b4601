"""What every inbound channel shares: size limits, credentials, form decoding, keeping the raw
payload before parsing (service_layer.inbound), and re-processing kept payloads by their source."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest

from supportdesk_service import guard, signing
from supportdesk_service.auth import AdminAuth
from supportdesk_service.problems import PROBLEM_JSON, Problem, problem_answers
from supportdesk_service.runtime import ServiceRuntime

from ...adapters.email_formats import UnreadablePayload
from ...service_layer import inbound
from ...settings import Settings
from . import Runtime

router = APIRouter(prefix="/v1/inbound", tags=["inbound"])

Outcome = Literal[
    "received",
    "ticket_opened",
    "reply_added",
    "attached",
    "duplicate",
    "auto_reply_ignored",
    "unverified",
    "unreadable",
    "failed",
]

# source -> how to (re)process a kept payload: (runtime, inbound_id, body, content type) -> response
Processor = Callable[[ServiceRuntime[Settings], uuid.UUID, bytes, str | None], Awaitable[Response]]
PROCESSORS: dict[str, Processor] = {}


def settings_of(runtime: ServiceRuntime[Settings]) -> Settings:
    return runtime.settings


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes (413) without reading them all first."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "Payload Too Large", f"over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "Payload Too Large", f"over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def require_basic_auth(request: Request, runtime: ServiceRuntime[Settings]) -> None:
    """SendGrid and Postmark sign nothing: HTTP basic auth with INTAKE_INBOUND_BASIC_AUTH."""
    expected = settings_of(runtime).inbound_basic_auth.get_secret_value()
    given = request.headers.get("authorization", "")
    ok = False
    if expected and given.lower().startswith("basic "):
        try:
            ok = signing.same(base64.b64decode(given[6:], validate=True).decode(), expected)
        except (binascii.Error, UnicodeDecodeError):
            ok = False
    if not ok:
        raise HTTPException(
            401, "valid HTTP basic credentials are required", headers={"WWW-Authenticate": 'Basic realm="inbound"'}
        )


async def form_of(body: bytes, content_type: str | None) -> tuple[dict[str, Any], dict[str, tuple[str, str, bytes]]]:
    """Decode a urlencoded or multipart body we already hold (live or kept) into fields and files."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", (content_type or "").encode())]}
    if guard.media_type(content_type) == "application/x-www-form-urlencoded":
        guard.check_form_limits(body)  # counted before anything parses it, whoever sent it
    try:
        form = await StarletteRequest(scope, receive).form(max_files=1000, max_fields=10_000)
    except Exception as e:  # malformed multipart boundaries and the like
        raise UnreadablePayload("body", f"not a readable form: {e}") from None
    fields: dict[str, Any] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            files[name] = (value.filename or name, value.content_type or "application/octet-stream", await value.read())
        else:
            fields[name] = value
    return fields, files


def unreadable(
    inbound_id: uuid.UUID, problem: UnreadablePayload, status: int, title: str = "Unreadable inbound message"
) -> JSONResponse:
    """The answer for a kept-and-flagged payload; a 2xx status (for vendors that retry every
    error for days) still says what was wrong."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": f"kept as {inbound_id} and flagged; {problem}",
        "inbound_id": str(inbound_id),
        "errors": [{"field": problem.field, "message": str(problem)}],
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON if status >= 400 else None)


async def keep_raw(runtime: ServiceRuntime[Settings], request: Request, source: str, body: bytes) -> uuid.UUID:
    """Kept, committed on its own, before anything parses it (without the caller's credentials)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("authorization", "cookie")}
    return await inbound.keep_raw(
        runtime.engine,
        source=source,
        body=body,
        content_type=request.headers.get("content-type"),
        headers=headers,
        clock=runtime.clock,
    )


@router.get("", dependencies=[AdminAuth])
async def list_inbound(
    runtime: Runtime,
    outcome: Annotated[Outcome | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """What came in, newest first; `outcome=unverified`, `unreadable` or `failed` lists what needs a look."""
    return await inbound.listing(runtime.engine, outcome, limit)


@router.post(
    "/{inbound_id}/reprocess",
    dependencies=[AdminAuth],
    responses=problem_answers(s409="no processor for this payload's source"),
)
async def reprocess(inbound_id: uuid.UUID, runtime: Runtime) -> Response:
    """Run a kept payload through parsing and processing again (after a fix)."""
    kept = await inbound.kept(runtime.engine, inbound_id)
    if kept is None:
        raise Problem(404, "Not Found", f"no inbound message {inbound_id}")
    processor = PROCESSORS.get(kept.source)
    if processor is None:
        raise Problem(409, "Conflict", f"no processor for {kept.source} payloads")
    return await processor(runtime, inbound_id, kept.body, kept.content_type)
