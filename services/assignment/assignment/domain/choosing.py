"""Automatic assignment: which waiting ticket goes to which agent, and which held tickets go back.

Waiting tickets are taken most urgent-to-breach first, in business time: the business seconds left
before the ticket's earliest running due instant, counted in the calendar that instant counts in
(so a ticket two business minutes before closing time outranks one with thirty open minutes left,
however the wall clock reads), then the oldest in the pool, then by id. Each goes to an agent of
its team who is active, online, on shift now and has room for it, chosen by the team's rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from supportdesk_calendar.calendar import BusinessCalendar
from supportdesk_contract.catalogue import AssignmentReason
from supportdesk_contract.vocabulary import Priority, RequestType

from .people import Agent, Team

# How much an open ticket of each priority counts against an agent's capacity.
LOAD_WEIGHT: Mapping[Priority, int] = {
    Priority.URGENT: 3,
    Priority.HIGH: 2,
    Priority.NORMAL: 1,
    Priority.LOW: 1,
}


@dataclass(frozen=True)
class WaitingTicket:
    """A ticket in a team's pool with no agent."""

    ticket_id: str
    team: str
    priority: Priority
    request_type: RequestType | None
    language: str | None
    customer_id: str | None
    product: str | None
    waiting_since: datetime  # when it entered the pool (oldest first among equals)
    first_due_at: datetime | None  # the earliest running SLA due instant; None: no running clock
    calendar: BusinessCalendar | None  # the calendar first_due_at counts in; None: wall-clock time


@dataclass(frozen=True)
class Holding:
    """An open ticket an agent holds."""

    ticket_id: str
    agent_id: str
    team: str
    priority: Priority


@dataclass(frozen=True)
class Decision:
    ticket_id: str
    team: str
    agent_id: str
    explanation: str  # the rule and the candidates with load/capacity, e.g. "least loaded of 4 on shift: ..."


@dataclass(frozen=True)
class HandBack:
    ticket_id: str
    agent_id: str
    team: str
    reason: AssignmentReason  # OFF_SHIFT or AWAY
    explanation: str


class Desk:
    """The desk as the assigner sees it at one instant; decides in memory, updating its own loads
    as it goes."""

    def __init__(
        self,
        agents: Iterable[Agent],
        teams: Iterable[Team],
        holdings: Iterable[Holding],
        last_given: Mapping[str, str] | None = None,  # team id -> agent id last given (round-robin)
    ) -> None:
        raise NotImplementedError

    def assign_waiting(
        self, waiting: Iterable[WaitingTicket], now: datetime, limit: int | None = None
    ) -> list[Decision]:
        """Decisions for the waiting tickets, in the order taken (at most `limit`); a ticket nobody
        can take gets none and stays waiting. Each decision is added to the desk's holdings."""
        raise NotImplementedError

    def hand_backs(self, now: datetime, absent_since: Mapping[str, datetime]) -> list[HandBack]:
        """The holdings that go back to their team's pool at `now`: the holder has been away/off
        (`absent_since`: agent id -> when they went away or off) or off shift for at least the
        team's `hand_back_after`. They are removed from the desk's holdings."""
        raise NotImplementedError

    def load(self, agent_id: str) -> int:
        """The agent's weighted open tickets (0 for an unknown agent)."""
        raise NotImplementedError

    def last_given(self) -> Mapping[str, str]:
        """Team id -> the agent id last given a ticket of that team (the round-robin cursor to keep)."""
        raise NotImplementedError
