"""The outbox as operators see it, the same in every service: rows parked because they can never
be published, and putting one back in line once its cause is fixed (e.g. a raised size limit)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import text

from supportdesk_messaging.db import OUTBOX_CHANNEL, PARKED
from supportdesk_service.auth import AdminAuth
from supportdesk_service.problems import Problem
from supportdesk_service.runtime import Runtime

router = APIRouter(prefix="/v1/ops/outbox", tags=["ops"], dependencies=[AdminAuth])


class ParkedEvent(BaseModel):
    position: int
    event_id: uuid.UUID
    event_type: str
    topic: str
    ticket_id: str
    occurred_at: datetime
    failed_at: datetime
    failure_reason: str
    size_bytes: int  # of the envelope as stored
    held: int  # later events of the same ticket waiting behind this one


class ParkedList(BaseModel):
    parked: list[ParkedEvent]


@router.get("/parked", response_model=ParkedList, responses={401: {"description": "an admin key is required"}})
async def parked(runtime: Runtime, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ParkedList:
    """Events this service recorded but can never publish, oldest first, with the reason."""
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                """
                SELECT e.position, e.event_id, e.event_type, e.topic, e.ticket_id, e.occurred_at, e.failed_at,
                       e.failure_reason, octet_length(e.envelope::text) AS size_bytes,
                       (SELECT count(*) FROM events h WHERE h.ticket_id = e.ticket_id AND h.position > e.position
                          AND h.published_at IS NULL AND h.failed_at IS NULL) AS held
                FROM events e WHERE e.failed_at IS NOT NULL AND e.published_at IS NULL ORDER BY e.position LIMIT :limit
                """
            ),
            {"limit": limit},
        )
        return ParkedList(parked=[ParkedEvent.model_validate(r._mapping) for r in rows])


@router.post(
    "/parked/{event_id}/retry",
    status_code=202,
    responses={404: {"description": "no parked event with this id"}, 401: {"description": "an admin key is required"}},
)
async def retry(event_id: uuid.UUID, runtime: Runtime) -> dict[str, str]:
    """Put a parked event back in line; if its cause is still there, the relay parks it again."""
    async with runtime.engine.begin() as conn:
        row = (
            await conn.execute(
                text(
                    f"UPDATE events SET failed_at = NULL, failure_reason = NULL WHERE event_id = :id AND {PARKED} "
                    "RETURNING position"
                ),
                {"id": event_id},
            )
        ).first()
        if row is None:
            raise Problem(404, "Not Found", f"no parked event {event_id}")
        await conn.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
    return {"event_id": str(event_id), "status": "queued"}
