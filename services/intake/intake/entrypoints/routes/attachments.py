"""Reading a ticket's attachments, for an agent or the requester holding the ticket's token.

Stored by SHA-256 and referenced from the ticket's events; only a hash the ticket's own history
references is served (the same content in another ticket reveals nothing). Always a download
(`Content-Disposition: attachment`, `nosniff`, a sandboxing CSP); types a browser or desktop would
run are served as `application/octet-stream`. Ranges (`Range`, `If-Range`, multipart ranges, 416)
are Starlette's FileResponse, over a content-addressed cache file written once per hash
(adapters.attachment_cache)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.types import Message, Receive, Scope, Send

from supportdesk_service.problems import Problem, problem_response

from ...adapters import attachment_cache
from ...domain.attachments import served_content_type
from ...service_layer import views
from . import Runtime
from .access import TicketCaller
from .inbound_common import settings_of

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class AttachmentRef(BaseModel):
    name: str
    content_type: str
    size: int
    sha256: str
    url: str


def listing(ticket_id: str, history: list[dict[str, Any]]) -> list[AttachmentRef]:
    return [
        AttachmentRef(**a.model_dump(), url=f"/v1/tickets/{ticket_id}/attachments/{a.sha256}")
        for a in views.referenced(history).values()
    ]


class AttachmentResponse(FileResponse):
    """Starlette's FileResponse (ranges and all), with its one error, 416, said as problem+json
    like every other error of ours (it answers plain text)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        unsatisfiable: dict[str, str] = {}

        async def problem_instead_of_plain_text(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 416:
                for name, value in message["headers"]:
                    if name.lower() == b"content-range":
                        unsatisfiable["content-range"] = value.decode("latin-1")
                unsatisfiable.setdefault("content-range", "bytes */0")
                return
            if not unsatisfiable:
                await send(message)
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                size = unsatisfiable["content-range"].rpartition("/")[2]
                problem = problem_response(
                    416,
                    "Range Not Satisfiable",
                    f"the attachment has {size} bytes",
                    errors=[{"field": "header.range", "message": f"outside bytes 0-{int(size) - 1}"}],
                )
                problem.headers["content-range"] = unsatisfiable["content-range"]
                await problem(scope, receive, send)

        await super().__call__(scope, receive, problem_instead_of_plain_text)


@router.get(
    "/{ticket_id}/attachments/{sha256}",
    response_class=AttachmentResponse,
    responses={
        200: {"description": "the file, as a download", "content": {"application/octet-stream": {}}},
        206: {"description": "the requested range(s)"},
        404: {"description": "no such ticket, not yours, or no such attachment on it"},
        416: {"description": "the range is outside the file"},
    },
)
async def get_attachment(
    ticket_id: str,
    runtime: Runtime,
    caller: TicketCaller,
    sha256: str = PathParam(description="the attachment's SHA-256, lower-case hex, as the ticket lists it"),
) -> AttachmentResponse:
    """An attachment of this ticket, with ranges for large files."""
    if not SHA256.match(sha256):
        raise Problem(
            404,
            "Not Found",
            "no such attachment on this ticket",
            errors=[{"field": "path.sha256", "message": "64 lower-case hex digits"}],
        )
    found = await views.attachment(runtime.engine, ticket_id, sha256, agent=caller.is_agent)
    if found is None:
        raise Problem(404, "Not Found", f"ticket {ticket_id} has no attachment {sha256}")
    ref, content = found.ref, found.content
    if content is None:
        raise Problem(
            404, "Not Found", f"{ref.name} was larger than INTAKE_MAX_ATTACHMENT_BYTES: kept only in the raw payload"
        )
    settings = settings_of(runtime)
    path = await asyncio.to_thread(
        attachment_cache.cached,
        attachment_cache.attachment_cache_dir(settings.database_name, settings.attachment_cache_dir),
        sha256,
        content,
        runtime.clock.now().timestamp(),
        settings.attachment_cache_seconds,
    )
    return AttachmentResponse(
        path,
        media_type=served_content_type(ref.content_type),
        filename=ref.name,
        content_disposition_type="attachment",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
