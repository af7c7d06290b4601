"""Who works here and how loaded they are: the directory and the workload, both read from the
board (folded from `desk.people` and the tickets' rows), live or as of an instant."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from supportdesk_service.auth import Agent, AgentAuth

from ...service_layer import views
from . import Runtime
from .tickets import AsOf

router = APIRouter(tags=["board"], dependencies=[AgentAuth])


@router.get("/v1/board/workload")
async def workload(runtime: Runtime, as_of: AsOf = None) -> dict[str, Any]:
    """Per agent of the directory: open tickets held, at risk (warned on a running clock), breached,
    against capacity, with availability and teams; per team: open tickets in its pool that nobody
    holds, and the oldest's wait. Counted over the ticket rows, so they agree with the list."""
    return await views.workload(runtime.engine, runtime.clock, as_of)


@router.get("/v1/board/directory")
async def directory(runtime: Runtime, as_of: AsOf = None) -> dict[str, Any]:
    """Agents (id, name, email, teams, availability, capacity, active) and teams (id, name,
    members, lead, queues), each as its latest profile event says."""
    return await views.directory(runtime.engine, as_of)


@router.get("/v1/board/me")
async def me(runtime: Runtime, caller: Agent) -> dict[str, Any]:
    """Who "me" and "mine" are for the caller: the key's or token's name (`caller`), the agent of
    the directory it is (by id or email; `agent_id` null when none) and their teams."""
    return await views.me(runtime.engine, caller)
