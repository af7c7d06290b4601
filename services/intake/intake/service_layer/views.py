"""What intake's reads show: a ticket (now, or folded as of an instant), its attachments, and who
may read it. Queries only; nothing here writes. The routes decide who is asking (`agent` or the
ticket's requester); these views decide what that caller sees."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_contract.catalogue import Attachment
from supportdesk_contract.requester_view import requester_view

from ..adapters import inbound_store as store
from ..adapters import repository


@dataclass(frozen=True)
class TicketAccess:
    """What proves a requester's right to a ticket: the digest of its access token."""

    token_sha256: str

    def opens_with(self, token: str) -> bool:
        return hmac.compare_digest(repository.token_digest(token), self.token_sha256)


async def ticket_access(engine: AsyncEngine, ticket_id: str) -> TicketAccess | None:
    """None: no such ticket."""
    async with engine.connect() as conn:
        digest = await repository.token_sha256(conn, ticket_id)
    return None if digest is None else TicketAccess(digest)


def visible_history(envelopes: list[dict[str, Any]], *, agent: bool) -> list[dict[str, Any]]:
    """What of a ticket's history the caller may see: all of it for an agent; for the requester,
    what `supportdesk_contract.requester_view` declares public (events dropped, fields cut)."""
    if agent:
        return envelopes
    out = []
    for envelope in envelopes:
        payload = requester_view(envelope["event_type"], envelope["payload"])
        if payload is not None:
            out.append({**envelope, "payload": payload})
    return out


def _actor(event_type: str, payload: dict[str, Any]) -> str | None:
    """Who made an event, from the fields the caller may see of it (None: they may not see who)."""
    for name in ("agent", "by", "opened_by_staff"):
        if isinstance(payload.get(name), str):
            return str(payload[name])
    return "requester" if event_type == "CustomerReplied" else None


def missed_events(missed: list[tuple[int, dict[str, Any]]], *, agent: bool) -> list[dict[str, Any]]:
    """The events a stale command's caller has not seen, as they may see them (an agent: all, as
    in the ticket's read; the requester: only what `supportdesk_contract.requester_view` declares
    public), each with its stream version, type, instant and who made it."""
    version_of = {envelope["event_id"]: version for version, envelope in missed}
    return [
        {
            "version": version_of[e["event_id"]],
            "event_type": e["event_type"],
            "occurred_at": e["occurred_at"],
            "by": _actor(e["event_type"], e["payload"]),
            "payload": e["payload"],
        }
        for e in visible_history([envelope for _, envelope in missed], agent=agent)
    ]


def referenced(history: list[dict[str, Any]]) -> dict[str, Attachment]:
    """The attachments a ticket's events reference, by hash (the latest reference names it)."""
    out: dict[str, Attachment] = {}
    for envelope in history:
        for a in envelope["payload"].get("attachments") or ():
            ref = Attachment.model_validate(a)
            out[ref.sha256] = ref
    return out


@dataclass(frozen=True)
class TicketRead:
    fields: dict[str, Any]  # the ticket's row (`tickets`), as of the instant asked for
    history: list[dict[str, Any]]  # its envelopes up to then, as the caller may see them


class NotOpenedYet(Exception):
    def __init__(self, ticket_id: str, as_of: datetime) -> None:
        super().__init__(ticket_id, as_of)
        self.as_of = as_of


async def ticket(engine: AsyncEngine, ticket_id: str, *, agent: bool, as_of: datetime | None = None) -> TicketRead:
    """The ticket and its history as the caller may see them. With `as_of`, the ticket folded from
    its events up to that instant (the aggregate's own fold) and its history up to then
    (NotOpenedYet: it had not been opened by then)."""
    async with engine.connect() as conn:
        fields = await repository.ticket_row(conn, ticket_id)
        entries = await repository.history(conn, ticket_id)
        past = await repository.load_as_of(conn, ticket_id, as_of) if as_of is not None else None
    if as_of is not None:
        if past is None:
            raise NotOpenedYet(ticket_id, as_of)
        folded, updated_at = past
        # What changes after opening comes from the fold; the rest was fixed when it opened.
        fields |= {
            "status": folded.status.value,
            "severity": folded.severity,
            "version": folded.version,
            "cycle": folded.cycle,
            "updated_at": updated_at,
        }
        entries = [e for e in entries if datetime.fromisoformat(e["occurred_at"]) <= as_of]
    if not agent:
        fields["customer_id"] = None  # our directory's id: agent-only
    return TicketRead(fields, visible_history(entries, agent=agent))


@dataclass(frozen=True)
class AttachmentRead:
    ref: Attachment  # as the ticket's events name it
    content: bytes | None  # None: larger than INTAKE_MAX_ATTACHMENT_BYTES, kept only in the raw payload


async def attachment(engine: AsyncEngine, ticket_id: str, sha256: str, *, agent: bool) -> AttachmentRead | None:
    """A file the ticket's history, as the caller may see it, references; None: it references none
    with this hash (the same content in another ticket reveals nothing)."""
    async with engine.connect() as conn:
        ref = referenced(visible_history(await repository.history(conn, ticket_id), agent=agent)).get(sha256)
        content = await store.attachment(conn, sha256) if ref is not None else None
    return None if ref is None else AttachmentRead(ref, content)
