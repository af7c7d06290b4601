"""Automatic assignment: which waiting ticket goes to which agent, and which held tickets go back.

Waiting tickets are taken most urgent-to-breach first, in business time: the business seconds left
before the ticket's earliest running due instant, counted in the calendar that instant counts in
(so a ticket two business minutes before closing time outranks one with thirty open minutes left,
however the wall clock reads; a breached one has none or less left), then tickets with no running
clock; among equals the oldest in the pool, then by id. Each goes to a member of its team who is
active, online, on shift now and has room for it (load + the ticket's weight <= capacity), chosen
by the team's rule:

- round robin: the next such member after the one last given a ticket of the team, in member order;
- least loaded: the lowest load/capacity, then the lowest load, then member order;
- skills: the best match of the ticket's language (against the agent's languages, by primary
  subtag: "de-AT" is "de") and then of its request type, product and customer (against the agent's
  skills, ignoring case), least loaded among the best; language first, since an agent who cannot
  read the customer cannot answer them. Nobody with room matching anything: least loaded, and the
  explanation says so;
- manual: never automatically.

A ticket nobody can take gets no decision and stays waiting; later tickets of other teams still go.
A team's `members` say who is in it (the agents' own `teams` are not consulted).

Hand-back: the holdings an agent holds for a team go back to its pool when the agent has been away
or off (availability) or off shift (that team's hours, or their own) for at least the team's
`hand_back_after`, in wall-clock time; at once when the agent has left the desk (inactive).

How it stays fast (1,000 agents, 100,000 open tickets): loads are kept per agent as decisions are
made; each team's members on shift are worked out once and kept until the first instant one of
their calendars opens or closes; the business time left is computed once per ticket and the tickets
are taken from a heap; once a team has nobody with room for a weight, its other tickets of that
weight are skipped without looking (loads only grow within a pass). A decision looks only at the
members of its ticket's team who are on shift.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from supportdesk_calendar.calendar import BusinessCalendar, CalendarNeverOpens, InstantOutOfRange
from supportdesk_contract.catalogue import AssignmentReason, AssignmentRule, Availability
from supportdesk_contract.vocabulary import Priority, RequestType

from .people import Agent, Team, shift_calendar, shift_ended_at

# How much an open ticket of each priority counts against an agent's capacity. An urgent or high
# ticket is worked continuously, on the phone where the policy recommends it, to first-response
# targets in minutes rather than hours (docs/policies.md#seed-000): it takes the attention of about
# three (urgent) or two (high) ordinary ones. Low counts as much as normal: every open ticket is
# read, answered and followed up, whatever its targets.
LOAD_WEIGHT: Mapping[Priority, int] = MappingProxyType(
    {Priority.URGENT: 3, Priority.HIGH: 2, Priority.NORMAL: 1, Priority.LOW: 1}
)


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


# How many candidates an explanation names before "and N more", and how long a name may be there.
EXPLAINED = 8
NAME_CHARS = 32


def business_left(ticket: WaitingTicket, now: datetime) -> float | None:
    """Business seconds from `now` to the ticket's first due instant in its calendar (wall-clock
    seconds without one); negative once past it; None without a running clock."""
    due = ticket.first_due_at
    if due is None:
        return None
    calendar = ticket.calendar
    if calendar is not None:
        try:
            if due >= now:
                return calendar.business_seconds(now, due)
            return -calendar.business_seconds(due, now)
        except InstantOutOfRange:
            pass  # an instant the calendar does not answer for: the wall clock is the best left
    return (due - now).total_seconds()


@dataclass(frozen=True)
class _Member:
    index: int  # place in the team's members: round-robin order and the last tie-break
    agent: Agent


@dataclass(frozen=True)
class _OnShift:
    """A team's members who can be given tickets (active, online, on shift) from `since` until just
    before `until` (the first instant one of their calendars opens or closes; None: never)."""

    since: datetime
    until: datetime | None
    members: tuple[_Member, ...]

    def holds_at(self, now: datetime) -> bool:
        return self.since <= now and (self.until is None or now < self.until)


class Desk:
    """The desk as the assigner sees it at one instant; decides in memory, updating its own loads
    as it goes.

    A desk may also be kept between instants and kept in step (`hold`, `release`, `put_agent`,
    `put_team`), so that each new ticket costs one decision rather than a rebuild."""

    def __init__(
        self,
        agents: Iterable[Agent],
        teams: Iterable[Team],
        holdings: Iterable[Holding],
        last_given: Mapping[str, str] | None = None,  # team id -> agent id last given (round-robin)
    ) -> None:
        self._agents: dict[str, Agent] = {}
        self._tags: dict[str, tuple[frozenset[str], frozenset[str]]] = {}  # agent -> (languages, skills)
        self._teams: dict[str, Team] = {}
        self._places: dict[str, dict[str, int]] = {}  # team -> agent -> place in members
        self._on_shift: dict[str, _OnShift] = {}
        self._loads: dict[str, int] = {}
        self._held: dict[str, Holding] = {}
        self._by_holder: dict[tuple[str, str], dict[str, Holding]] = {}
        self._cursor: dict[str, str] = dict(last_given or {})
        for agent in agents:
            self.put_agent(agent)
        for team in teams:
            self.put_team(team)
        for holding in holdings:
            self.hold(holding)

    # --- keeping the desk in step ----------------------------------------------------------------

    def put_agent(self, agent: Agent) -> None:
        """Add or replace an agent (a profile or availability change)."""
        self._agents[agent.id] = agent
        self._tags[agent.id] = (
            frozenset(_language(x) for x in agent.languages),
            frozenset(x.casefold() for x in agent.skills),
        )
        self._on_shift.clear()  # cheap to rebuild, and the agent may be in any team

    def put_team(self, team: Team) -> None:
        """Add or replace a team."""
        self._teams[team.id] = team
        places: dict[str, int] = {}
        for i, member in enumerate(team.members):
            places.setdefault(member, i)
        self._places[team.id] = places
        self._on_shift.pop(team.id, None)

    def hold(self, holding: Holding) -> None:
        """An agent now holds this open ticket (replacing whoever held it)."""
        self.release(holding.ticket_id)
        self._held[holding.ticket_id] = holding
        self._by_holder.setdefault((holding.agent_id, holding.team), {})[holding.ticket_id] = holding
        self._loads[holding.agent_id] = self._loads.get(holding.agent_id, 0) + LOAD_WEIGHT[holding.priority]

    def carry(self, agent_id: str, priority: Priority, count: int) -> None:
        """The agent holds `count` more open tickets of `priority` that the desk is not told of one
        by one: they weigh on the agent's load, and cannot be handed back (see `due_back`)."""
        self._loads[agent_id] = self._loads.get(agent_id, 0) + LOAD_WEIGHT[priority] * count

    def release(self, ticket_id: str) -> Holding | None:
        """Nobody holds this ticket any more (closed, unassigned, handed back); what was held."""
        holding = self._held.pop(ticket_id, None)
        if holding is not None:
            del self._by_holder[holding.agent_id, holding.team][ticket_id]
            self._loads[holding.agent_id] -= LOAD_WEIGHT[holding.priority]
        return holding

    # --- questions ---------------------------------------------------------------------------------

    def load(self, agent_id: str) -> int:
        """The agent's weighted open tickets (0 for an unknown agent)."""
        return self._loads.get(agent_id, 0)

    def last_given(self) -> Mapping[str, str]:
        """Team id -> the agent id last given a ticket of that team (the round-robin cursor to keep)."""
        return dict(self._cursor)

    def holding(self, ticket_id: str) -> Holding | None:
        return self._held.get(ticket_id)

    def on_shift_members(self, team_id: str, now: datetime) -> tuple[Agent, ...]:
        """The team's members who can be given tickets at `now`: active, online, on shift."""
        team = self._teams.get(team_id)
        return () if team is None else tuple(m.agent for m in self._members_on_shift(team, now))

    # --- assigning ---------------------------------------------------------------------------------

    def assign_waiting(
        self, waiting: Iterable[WaitingTicket], now: datetime, limit: int | None = None
    ) -> list[Decision]:
        """Decisions for the waiting tickets, in the order taken (at most `limit`); a ticket nobody
        can take gets none and stays waiting. Each decision is added to the desk's holdings. A
        ticket the desk already holds is not waiting and is left alone."""
        decisions: list[Decision] = []
        if limit is not None and limit <= 0:
            return decisions
        heap: list[tuple[int, float, float, str, int, WaitingTicket]] = []
        for seq, ticket in enumerate(waiting):
            left = business_left(ticket, now)
            group, key = (1, 0.0) if left is None else (0, left)
            heap.append((group, key, ticket.waiting_since.timestamp(), ticket.ticket_id, seq, ticket))
        heapq.heapify(heap)
        no_room: set[tuple[str, int]] = set()  # (team, weight) nobody on shift has room for, this pass
        while heap:
            ticket = heapq.heappop(heap)[-1]
            team = self._teams.get(ticket.team)
            if team is None or not team.active or team.rule is AssignmentRule.MANUAL:
                continue
            if ticket.ticket_id in self._held:
                continue
            weight = LOAD_WEIGHT[ticket.priority]
            if (team.id, weight) in no_room:
                continue
            chosen = self._choose(team, ticket, weight, now)
            if chosen is None:
                no_room.add((team.id, weight))
                continue
            agent, explanation = chosen
            self.hold(Holding(ticket.ticket_id, agent.id, team.id, ticket.priority))
            self._cursor[team.id] = agent.id
            decisions.append(Decision(ticket.ticket_id, team.id, agent.id, explanation))
            if limit is not None and len(decisions) >= limit:
                break
        return decisions

    def _members_on_shift(self, team: Team, now: datetime) -> tuple[_Member, ...]:
        kept = self._on_shift.get(team.id)
        if kept is not None and kept.holds_at(now):
            return kept.members
        members: list[_Member] = []
        until: datetime | None = None
        changes: dict[int, tuple[bool, datetime | None]] = {}  # id(calendar) -> (open, next change)
        for agent_id, place in self._places[team.id].items():
            agent = self._agents.get(agent_id)
            if agent is None or not agent.active or agent.availability is not Availability.ONLINE:
                continue
            calendar = shift_calendar(agent, team)
            if calendar is None:
                members.append(_Member(place, agent))
                continue
            known = changes.get(id(calendar))
            if known is None:
                known = changes[id(calendar)] = _open_and_next_change(calendar, now)
            is_open, change = known
            if change is not None and (until is None or change < until):
                until = change
            if is_open:
                members.append(_Member(place, agent))
        members.sort(key=lambda m: m.index)
        shift = _OnShift(now, until, tuple(members))
        self._on_shift[team.id] = shift
        return shift.members

    def _choose(self, team: Team, ticket: WaitingTicket, weight: int, now: datetime) -> tuple[Agent, str] | None:
        on_shift = self._members_on_shift(team, now)
        loads = self._loads
        room = [m for m in on_shift if loads.get(m.agent.id, 0) + weight <= m.agent.capacity]
        if not room:
            return None
        full = len(on_shift) - len(room)
        of = f"{len(room)} on shift with room" + (f" ({full} more full)" if full else "")
        if team.rule is AssignmentRule.ROUND_ROBIN:
            return self._round_robin(team, room, of)
        if team.rule is AssignmentRule.SKILLS:
            return self._skills(ticket, room, of)
        ranked = self._least_loaded(room)
        return ranked[0].agent, f"least loaded of {of}: {self._listing(ranked, len(room))}"

    def _least_loaded(self, members: Sequence[_Member]) -> list[_Member]:
        """The first EXPLAINED of `members`, least loaded first."""
        loads = self._loads

        def key(m: _Member) -> tuple[float, int, int]:
            load = loads.get(m.agent.id, 0)
            # Equal fractions give equal floats (division is correctly rounded), so ties stay ties.
            return load / m.agent.capacity, load, m.index

        return heapq.nsmallest(EXPLAINED, members, key=key)

    def _round_robin(self, team: Team, room: Sequence[_Member], of: str) -> tuple[Agent, str]:
        last = self._cursor.get(team.id)
        after = self._places[team.id].get(last, -1) if last is not None else -1
        size = len(team.members)
        ranked = heapq.nsmallest(EXPLAINED, room, key=lambda m: (m.index - after - 1) % size)
        last_agent = self._agents.get(last) if last is not None and after >= 0 else None
        start = f"after {_name(last_agent)}" if last_agent is not None else "from the first member"
        return ranked[0].agent, f"round robin {start}, next of {of}: {self._listing(ranked, len(room))}"

    def _skills(self, ticket: WaitingTicket, room: Sequence[_Member], of: str) -> tuple[Agent, str]:
        language = _language(ticket.language) if ticket.language else None
        wanted = [
            tag.casefold()
            for tag in (ticket.request_type.value if ticket.request_type else None, ticket.product, ticket.customer_id)
            if tag
        ]
        asked = ([language] if language else []) + wanted
        best: tuple[int, int] = (0, 0)
        best_members: list[_Member] = []
        for m in room:
            languages, skills = self._tags[m.agent.id]
            score = (int(language in languages) if language else 0, sum(tag in skills for tag in wanted))
            if score > best:
                best, best_members = score, [m]
            elif score == best:
                best_members.append(m)
        if best == (0, 0):
            ranked = self._least_loaded(room)
            listing = self._listing(ranked, len(room))
            if not asked:
                return ranked[0].agent, f"skills: the ticket asks for none; least loaded of {of}: {listing}"
            return ranked[0].agent, (
                f"skills {', '.join(asked)}: nobody of {of} matches; least loaded of them: {listing}"
            )
        languages, skills = self._tags[best_members[0].agent.id]
        matched = [tag for tag in asked if tag in (languages if tag == language else skills)]
        ranked = self._least_loaded(best_members)
        return ranked[0].agent, (
            f"skills {', '.join(asked)}: best match ({', '.join(matched)}) for {len(best_members)} of {of};"
            f" least loaded of them: {self._listing(ranked, len(best_members))}"
        )

    def _listing(self, ranked: Sequence[_Member], total: int) -> str:
        named = ", ".join(
            f"{_name(m.agent)} {self._loads.get(m.agent.id, 0)}/{m.agent.capacity}" for m in ranked[:EXPLAINED]
        )
        more = total - min(len(ranked), EXPLAINED)
        return f"{named}, and {more} more" if more > 0 else named

    # --- handing back ------------------------------------------------------------------------------

    def due_back(
        self, holders: Iterable[tuple[str, str]], now: datetime, absent_since: Mapping[str, datetime]
    ) -> set[tuple[str, str]]:
        """Which of these (agent, team) holders' holdings go back to the pool at `now` (see
        `hand_backs`): so that only theirs need be told to the desk one by one."""
        due: set[tuple[str, str]] = set()
        for agent_id, team_id in holders:
            agent, team = self._agents.get(agent_id), self._teams.get(team_id)
            if agent is None or team is None:
                continue
            if _why_hand_back(agent, team, now, absent_since.get(agent_id)) is not None:
                due.add((agent_id, team_id))
        return due

    def hand_backs(self, now: datetime, absent_since: Mapping[str, datetime]) -> list[HandBack]:
        """The holdings that go back to their team's pool at `now`: the holder has been away/off
        (`absent_since`: agent id -> when they went away or off; unknown: long enough) or off shift
        (`shift_ended_at`) for at least the team's `hand_back_after`, or has left the desk
        (inactive). They are removed from the desk's holdings. Holdings of an agent or team the
        desk does not know are left alone: nothing says they should go."""
        out: list[HandBack] = []
        for (agent_id, team_id), held in sorted(self._by_holder.items()):
            agent, team = self._agents.get(agent_id), self._teams.get(team_id)
            if not held or agent is None or team is None:
                continue
            why = _why_hand_back(agent, team, now, absent_since.get(agent_id))
            if why is None:
                continue
            reason, explanation = why
            for ticket_id in sorted(held):
                out.append(HandBack(ticket_id, agent_id, team_id, reason, explanation))
        for hand_back in out:
            self.release(hand_back.ticket_id)
        return out


def _why_hand_back(
    agent: Agent, team: Team, now: datetime, absent_since: datetime | None
) -> tuple[AssignmentReason, str] | None:
    grace = team.hand_back_after
    name = _name(agent)
    if not agent.active:
        return AssignmentReason.AWAY, f"{name} has left the desk; back to the {team.name} pool"
    if agent.availability is not Availability.ONLINE:
        if absent_since is None:
            return AssignmentReason.AWAY, f"{name} is {agent.availability.value} (since unknown); back to the pool"
        if now - absent_since >= grace:
            return AssignmentReason.AWAY, (
                f"{name} {agent.availability.value} since {_instant(absent_since)},"
                f" over the {_duration(grace)} grace of {team.name}"
            )
    ended = shift_ended_at(agent, team, now)
    if ended is not None and now - ended >= grace:
        return AssignmentReason.OFF_SHIFT, (
            f"{name} off shift since {_instant(ended)}, over the {_duration(grace)} grace of {team.name}"
        )
    return None


def _open_and_next_change(calendar: BusinessCalendar, now: datetime) -> tuple[bool, datetime | None]:
    """Is the calendar open at `now`, and the next instant that changes (now itself when unknown,
    so nothing is kept past `now`)."""
    is_open = calendar.is_open(now)
    try:
        return is_open, calendar.next_closing(now) if is_open else calendar.next_opening(now)
    except (CalendarNeverOpens, InstantOutOfRange):
        return is_open, now


def _language(tag: str) -> str:
    return tag.replace("_", "-").split("-", 1)[0].casefold()


def _name(agent: Agent) -> str:
    name = agent.name or agent.id
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="minutes")


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"
