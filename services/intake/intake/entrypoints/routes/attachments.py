"""Reading a ticket's attachments, for an agent or the requester holding the ticket's token.

Stored by SHA-256 and referenced from the ticket's events; only a hash the ticket's own history
references is served (the same content in another ticket reveals nothing). Always a download
(`Content-Disposition: attachment`, `nosniff`, a sandboxing CSP); types a browser or desktop would
run are served as `application/octet-stream`. Ranges (`Range`, `If-Range`, multipart ranges, 416)
are Starlette's FileResponse, over a content-addressed cache file written once per hash."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.types import Message, Receive, Scope, Send

from supportdesk_contract.catalogue import Attachment
from supportdesk_service.problems import Problem, problem_response

from ...adapters import inbound_store as store
from ...adapters import repository
from ...domain.attachments import served_content_type
from . import Runtime
from .access import TicketCaller, visible_history
from .inbound_common import settings_of

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class AttachmentRef(BaseModel):
    name: str
    content_type: str
    size: int
    sha256: str
    url: str


def referenced(history: list[dict[str, Any]]) -> dict[str, Attachment]:
    """The attachments a ticket's events reference, by hash (the latest reference names it)."""
    out: dict[str, Attachment] = {}
    for envelope in history:
        for a in envelope["payload"].get("attachments") or ():
            ref = Attachment.model_validate(a)
            out[ref.sha256] = ref
    return out


def listing(ticket_id: str, history: list[dict[str, Any]]) -> list[AttachmentRef]:
    return [
        AttachmentRef(**a.model_dump(), url=f"/v1/tickets/{ticket_id}/attachments/{a.sha256}")
        for a in referenced(history).values()
    ]


def attachment_cache_dir(database_name: str, configured: str) -> Path:
    return Path(configured or Path(tempfile.gettempdir()) / f"supportdesk-attachments-{database_name}")


def _write_once(directory: Path, sha256: str, content: bytes, now: float) -> Path:
    """Content-addressed: the file's name is its hash, written whole (temp file + rename). Its
    modification time says when it was last served (set to `now`), for the sweep."""
    target = directory / sha256
    if not target.exists():
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{sha256}.")
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, target)
    os.utime(target, (now, now))
    return target


SWEEP_EVERY = 60.0  # seconds between sweeps of one cache directory, per process
_swept: dict[Path, float] = {}


def sweep(directory: Path, unused_for: float, now: float) -> int:
    """Delete cached files (and stray temp files) last served more than `unused_for` seconds before
    `now`; returns how many. A file being served now was touched by `_write_once` just before."""
    removed = 0
    if not directory.is_dir():
        return 0
    for entry in directory.iterdir():
        try:
            if entry.is_file() and now - entry.stat().st_mtime > unused_for:
                entry.unlink()
                removed += 1
        except FileNotFoundError:  # another worker swept it first
            continue
    return removed


def _cached(directory: Path, sha256: str, content: bytes, now: float, unused_for: float) -> Path:
    if now - _swept.get(directory, 0.0) >= SWEEP_EVERY:
        _swept[directory] = now
        sweep(directory, unused_for, now)
    return _write_once(directory, sha256, content, now)


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
    async with runtime.engine.connect() as conn:
        ref = referenced(visible_history(caller, await repository.history(conn, ticket_id))).get(sha256)
        content = await store.attachment(conn, sha256) if ref is not None else None
    if ref is None:
        raise Problem(404, "Not Found", f"ticket {ticket_id} has no attachment {sha256}")
    if content is None:
        raise Problem(
            404, "Not Found", f"{ref.name} was larger than INTAKE_MAX_ATTACHMENT_BYTES: kept only in the raw payload"
        )
    settings = settings_of(runtime)
    path = await asyncio.to_thread(
        _cached,
        attachment_cache_dir(settings.database_name, settings.attachment_cache_dir),
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
