"""The list's and the stream's query parameters, parsed once into a TicketFilter, and the people
filters (`assignee`, `team`), which the service layer resolves against the directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime, Field

from supportdesk_service.problems import Problem

from ...domain.ticket_filter import TicketFilter
from ...service_layer.people import PeopleFilter, UnknownValue

Many = Annotated[list[str] | None, Query()]


def ticket_filter(
    status: Many = None,
    queue: Many = None,
    priority: Many = None,
    customer: Annotated[list[str] | None, Query(description="customer id")] = None,
    channel: Many = None,
    escalation_level: Annotated[list[Annotated[int, Field(ge=0, le=3)]] | None, Query()] = None,
    swat: bool | None = None,
    breached: bool | None = None,
    is_open: Annotated[bool | None, Query(alias="open")] = None,
    at_risk_within: Annotated[int | None, Query(ge=0, le=366 * 86400, description="seconds")] = None,
    opened_from: AwareDatetime | None = None,
    opened_to: AwareDatetime | None = None,
    updated_from: AwareDatetime | None = None,
    updated_to: AwareDatetime | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="full text, a number or an email")] = None,
) -> TicketFilter:
    if q is not None and "\x00" in q:
        raise Problem(422, "Invalid request", "q must not contain NUL characters", errors=[{"field": "query.q"}])
    return TicketFilter(
        status=status or (),
        queue=queue or (),
        priority=priority or (),
        customer=customer or (),
        channel=channel or (),
        escalation_level=escalation_level or (),
        swat=swat,
        breached=breached,
        is_open=is_open,
        at_risk_within=at_risk_within,
        q=q,
        opened_from=opened_from,
        opened_to=opened_to,
        updated_from=updated_from,
        updated_to=updated_to,
    )


Who = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]


def people_filter(
    assignee: Annotated[
        Who, Query(description="an agent id; `me`: the caller; `none`: open tickets nobody holds")
    ] = None,
    team: Annotated[Who, Query(description="a team id; `mine`: the caller's teams")] = None,
) -> PeopleFilter:
    return PeopleFilter(assignee=assignee, team=team)


def unknown(e: UnknownValue) -> Problem:
    """A people filter the directory cannot resolve, as the 422 naming the field."""
    return Problem(
        422,
        "Invalid request",
        f"{e.field.removeprefix('query.')}: {e.message}",
        errors=[{"field": e.field, "message": e.message}],
    )
