"""Requesters, for admins: find one by address or phone, and erase one (their personal data goes,
the ticket facts and SLA statistics stay). See supportdesk_messaging.personal for what erasure
guarantees."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from supportdesk_service.auth import AdminAuth
from supportdesk_service.problems import Problem

from ...adapters.attachment_cache import attachment_cache_dir
from ...service_layer import requesters
from . import Runtime

router = APIRouter(prefix="/v1/requesters", tags=["requesters"], dependencies=[AdminAuth])


class RequesterFound(BaseModel):
    requester_id: str
    email: str | None
    phone: str | None
    created_at: datetime
    tickets: int


class ErasureReport(BaseModel):
    requester_id: str
    erased_at: datetime
    tickets: list[str]  # each gets a RequesterErased event
    already_erased: bool


@router.get("", response_model=list[RequesterFound])
async def find_requesters(
    runtime: Runtime, email: str | None = Query(None, max_length=320), phone: str | None = Query(None, max_length=64)
) -> list[dict[str, Any]]:
    """The live (not erased) requesters with this address or phone."""
    if not email and not phone:
        raise Problem(
            422,
            "Invalid request",
            "say whom to find: email or phone",
            errors=[{"field": "query.email", "message": "email or phone is required"}],
        )
    return await requesters.find(runtime.engine, email=email, phone=phone)


@router.post(
    "/{requester_id}/erasure", response_model=ErasureReport, responses={404: {"description": "no such requester"}}
)
async def erase_requester(requester_id: str, runtime: Runtime) -> ErasureReport:
    """Destroy the requester's data key and scrub what intake holds of them; every other service
    drops or masks its copy on RequesterErased. Idempotent: erasing again reports `already_erased`."""
    cache = attachment_cache_dir(runtime.settings.database_name, runtime.settings.attachment_cache_dir)
    done = await requesters.erase(runtime.engine, requester_id, runtime.clock, cache)
    if done is None:
        raise Problem(404, "Not Found", f"no requester {requester_id}")
    return ErasureReport(
        requester_id=done.requester_id, erased_at=done.erased_at, tickets=done.tickets, already_erased=done.already
    )
