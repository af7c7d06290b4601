"""Over random desks: nobody is ever given more than their capacity, and every ticket goes to an
active, online member of its team who is on shift at that instant."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from assignment.domain.choosing import LOAD_WEIGHT, Desk, Holding, WaitingTicket
from assignment.domain.people import Agent, Team, on_shift
from supportdesk_calendar.calendar import BusinessCalendar, WeeklyWindow
from supportdesk_contract.catalogue import AssignmentRule, Availability
from supportdesk_contract.vocabulary import Priority, RequestType

CALENDARS = [
    None,
    BusinessCalendar("berlin", "Europe/Berlin", [WeeklyWindow(d, 540, 1020) for d in range(5)]),
    BusinessCalendar("la", "America/Los_Angeles", [WeeklyWindow(d, 540, 1020) for d in range(5)]),
    BusinessCalendar("night", "Asia/Tokyo", [WeeklyWindow(d, 1320, 360) for d in range(7)]),  # crosses midnight
]
AGENTS = [f"a{i}" for i in range(8)]
TEAMS = ["t0", "t1", "t2"]
WORDS = ["de", "en", "fr", "problem", "question", "exports", "acme"]

calendars = st.sampled_from(CALENDARS)
priorities = st.sampled_from(list(Priority))
# Any instant of a year that crosses both DST changes of both zones.
instants = st.integers(0, 365 * 24 * 60).map(lambda m: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m))


@st.composite
def desks(draw: st.DrawFn) -> tuple[list[Agent], list[Team], list[Holding], list[WaitingTicket], datetime]:
    teams = [
        Team(
            id=t,
            name=t,
            members=tuple(draw(st.lists(st.sampled_from(AGENTS), max_size=6))),
            lead=None,
            queues=(),
            calendar=draw(calendars),
            escalation_tier=None,
            rule=draw(st.sampled_from(list(AssignmentRule))),
            hand_back_after=timedelta(minutes=15),
            active=draw(st.booleans()),
        )
        for t in TEAMS
    ]
    agents = [
        Agent(
            id=a,
            name=a,
            email=f"{a}@desk.example",
            subject=None,
            teams=frozenset(t.id for t in teams if a in t.members),
            skills=frozenset(draw(st.sets(st.sampled_from(WORDS), max_size=3))),
            languages=frozenset(draw(st.sets(st.sampled_from(["de", "en", "fr"]), max_size=2))),
            capacity=draw(st.integers(0, 7)),
            time_zone="UTC",
            working_hours=draw(calendars),
            active=draw(st.booleans()),
            availability=draw(st.sampled_from(list(Availability))),
        )
        for a in AGENTS
    ]
    now = draw(instants)
    holdings = [
        Holding(f"h{i}", draw(st.sampled_from(AGENTS)), draw(st.sampled_from(TEAMS)), draw(priorities))
        for i in range(draw(st.integers(0, 15)))
    ]
    waiting = [
        WaitingTicket(
            ticket_id=f"w{i}",
            team=draw(st.sampled_from([*TEAMS, "unknown"])),
            priority=draw(priorities),
            request_type=draw(st.none() | st.sampled_from(list(RequestType))),
            language=draw(st.none() | st.sampled_from(["de", "en-GB", "fr"])),
            customer_id=draw(st.none() | st.just("acme")),
            product=draw(st.none() | st.just("exports")),
            waiting_since=now - timedelta(minutes=draw(st.integers(0, 600))),
            first_due_at=draw(st.none() | st.integers(-600, 6000).map(lambda m: now + timedelta(minutes=m))),
            calendar=draw(calendars),
        )
        for i in range(draw(st.integers(0, 30)))
    ]
    return agents, teams, holdings, waiting, now


@settings(max_examples=300, deadline=None)
@given(desks())
def test_nobody_goes_over_capacity_and_every_ticket_goes_to_an_online_member_on_shift(
    desk_at: tuple[list[Agent], list[Team], list[Holding], list[WaitingTicket], datetime],
) -> None:
    agents, teams, holdings, waiting, now = desk_at
    by_id = {a.id: a for a in agents}
    team_of = {t.id: t for t in teams}
    desk = Desk(agents, teams, holdings)
    decisions = desk.assign_waiting(waiting, now)

    loads = Counter[str]()
    for h in holdings:
        loads[h.agent_id] += LOAD_WEIGHT[h.priority]
    weight = {w.ticket_id: LOAD_WEIGHT[w.priority] for w in waiting}
    assert len({d.ticket_id for d in decisions}) == len(decisions)
    for d in decisions:
        agent, team = by_id[d.agent_id], team_of[d.team]
        assert team.active and team.rule is not AssignmentRule.MANUAL
        assert d.agent_id in team.members
        assert agent.active and agent.availability is Availability.ONLINE
        assert on_shift(agent, team, now)
        # Never above capacity at the moment of the decision (loads only grow in a pass).
        loads[d.agent_id] += weight[d.ticket_id]
        assert loads[d.agent_id] <= agent.capacity
        assert d.explanation
    assert all(desk.load(a) == loads[a] for a in AGENTS)
