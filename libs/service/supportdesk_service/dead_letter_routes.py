"""The dead letters over HTTP, the same in every consuming service (admin key): what `<service>
dead-letters list|show|redrive` does on the command line, through the same functions (`redrive`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, model_validator

from supportdesk_messaging.redrive import Selection, list_dead_letters, redrive, show_dead_letter
from supportdesk_service.auth import require_admin
from supportdesk_service.guard import SafeText
from supportdesk_service.problems import Problem
from supportdesk_service.runtime import Runtime, ServiceRuntime

router = APIRouter(prefix="/v1/admin/dead-letters", tags=["admin"])
Admin = Annotated[str, Depends(require_admin)]
_AUTH: dict[int | str, dict[str, Any]] = {401: {"description": "an admin key is required"}}


def _consumer(runtime: ServiceRuntime[Any]) -> Any:
    if runtime.consumer is None:
        raise Problem(404, "Not Found", f"{runtime.definition.name} consumes no events: it has no dead letters")
    return runtime.consumer


@router.get("", responses=_AUTH)
async def list_letters(
    runtime: Runtime,
    _: Admin,
    reason: Annotated[SafeText | None, Query(description="a reason class, or a piece of the reason")] = None,
    event_type: Annotated[SafeText | None, Query(alias="type")] = None,
    topic: SafeText | None = None,
    ticket_id: SafeText | None = None,
    pending: Annotated[bool | None, Query(description="true: not yet redriven; false: redriven")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, list[dict[str, Any]]]:
    """The service's dead letters, oldest first: reason, source topic/partition/offset, event type,
    ticket, age, and whether (and how) each was redriven."""
    _consumer(runtime)
    selection = Selection(reason=reason, event_type=event_type, topic=topic, ticket_id=ticket_id, pending=pending)
    found = await list_dead_letters(runtime.engine, selection, now=runtime.clock.now(), limit=limit)
    return {"dead_letters": found}


@router.get("/{dead_letter_id}", responses={**_AUTH, 404: {"description": "no dead letter with this id"}})
async def show_letter(dead_letter_id: int, runtime: Runtime, _: Admin) -> dict[str, Any]:
    """One dead letter: the raw message (key, value, headers) and the reason."""
    _consumer(runtime)
    found = await show_dead_letter(runtime.engine, dead_letter_id, now=runtime.clock.now())
    if found is None:
        raise Problem(404, "Not Found", f"no dead letter {dead_letter_id}")
    return found


class RedriveRequest(BaseModel):
    """Which dead letters to redrive: ids, or filters (all given must match), or `all`."""

    ids: list[int] = Field(default_factory=list, max_length=10_000)
    reason: SafeText | None = None
    type: SafeText | None = None
    topic: SafeText | None = None
    ticket_id: SafeText | None = None
    all: bool = False

    @model_validator(mode="after")
    def says_which(self) -> RedriveRequest:
        filtered = any(v is not None for v in (self.reason, self.type, self.topic, self.ticket_id))
        if not (self.ids or filtered or self.all):
            raise ValueError("say which dead letters: ids, a filter (reason, type, topic, ticket_id), or all: true")
        return self

    def selection(self) -> Selection:
        # `all` alone selects every pending dead letter.
        pending = True if self.all and not self.ids else None
        return Selection(
            ids=tuple(self.ids),
            reason=self.reason,
            event_type=self.type,
            topic=self.topic,
            ticket_id=self.ticket_id,
            pending=pending,
        )


async def _redrive(runtime: ServiceRuntime[Any], selection: Selection, by: str) -> list[dict[str, Any]]:
    consumer = _consumer(runtime)
    results = await redrive(
        runtime.engine,
        selection,
        consumer=consumer.service,
        handled=lambda event_type: event_type in consumer.handlers,
        apply_one=consumer.apply_one,
        clock=runtime.clock,
        by=by,
    )
    return [r.as_json() for r in results]


@router.post("/redrive", responses=_AUTH)
async def redrive_letters(body: RedriveRequest, runtime: Runtime, admin: Admin) -> dict[str, list[dict[str, Any]]]:
    """Put the selected dead letters back through the consumer's handlers, each at most once:
    `applied`, `duplicate` (the inbox had it), `ignored` (a type the service does not handle),
    `already_redriven` (an id asked for again) or `failed` (still failing; kept pending)."""
    return {"redriven": await _redrive(runtime, body.selection(), f"http:{admin}")}


@router.post("/{dead_letter_id}/redrive", responses={**_AUTH, 404: {"description": "no dead letter with this id"}})
async def redrive_letter(dead_letter_id: int, runtime: Runtime, admin: Admin) -> dict[str, Any]:
    """Redrive one dead letter (see POST /v1/admin/dead-letters/redrive)."""
    results = await _redrive(runtime, Selection(ids=(dead_letter_id,)), f"http:{admin}")
    if not results:
        raise Problem(404, "Not Found", f"no dead letter {dead_letter_id}")
    return results[0]
