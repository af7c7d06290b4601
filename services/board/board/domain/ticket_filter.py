"""What an agent asks the board's list and stream for: the filters (`TicketFilter`), the sort
orders (`Sort`), and the answer to a page cursor that is not the board's (`BadCursor`). Values
only; `adapters.views` makes the queries of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Sort(StrEnum):
    NEXT_DUE = "next_due"
    UPDATED = "updated"
    PRIORITY = "priority"
    OPENED = "opened"


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class TicketFilter:
    """The list's and the stream's filters; every one optional, all must hold."""

    status: Sequence[str] = ()
    queue: Sequence[str] = ()
    priority: Sequence[str] = ()
    customer: Sequence[str] = ()
    channel: Sequence[str] = ()
    escalation_level: Sequence[int] = ()
    swat: bool | None = None
    breached: bool | None = None
    is_open: bool | None = None
    at_risk_within: int | None = None  # seconds: open, not breached, next due within this window
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    q: str | None = None
    assignee: Sequence[str] = ()  # agent ids: the ticket's holder (a closed ticket's last one)
    team: Sequence[str] = ()
    unassigned: bool | None = None  # True: open and held by nobody (a team's pool is nobody)
