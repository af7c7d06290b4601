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
# Strategies built once (drawing through ones made per draw is what makes a property test slow).
member_lists = st.lists(st.sampled_from(AGENTS), min_size=1, max_size=6)
rules = st.sampled_from(list(AssignmentRule))
skill_sets = st.frozensets(st.sampled_from(WORDS), max_size=3)
language_sets = st.frozensets(st.sampled_from(["de", "en", "fr"]), max_size=2)
# Mostly active and online, so that most desks have someone to give tickets to (and to overfill).
availabilities = st.sampled_from([Availability.ONLINE, Availability.ONLINE, Availability.AWAY, Availability.OFF])
mostly = st.sampled_from([True, True, True, False])
ticket_teams = st.sampled_from([*TEAMS, "unknown"])
request_types = st.none() | st.sampled_from(list(RequestType))
ticket_languages = st.none() | st.sampled_from(["de", "en-GB", "fr"])
customers = st.none() | st.just("acme")
products = st.none() | st.just("exports")
due_minutes = st.none() | st.integers(-600, 6000)


@st.composite
def desks(draw: st.DrawFn) -> tuple[list[Agent], list[Team], list[Holding], list[WaitingTicket], datetime]:
    teams = [
        Team(
            id=t,
            name=t,
            members=tuple(draw(member_lists)),
            lead=None,
            queues=(),
            calendar=draw(calendars),
            escalation_tier=None,
            rule=draw(rules),
            hand_back_after=timedelta(minutes=15),
            active=draw(mostly),
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
            skills=draw(skill_sets),
            languages=draw(language_sets),
            capacity=draw(st.integers(0, 7)),
            time_zone="UTC",
            working_hours=draw(calendars),
            active=draw(mostly),
            availability=draw(availabilities),
        )
        for a in AGENTS
    ]
    now = draw(instants)
    holdings = [
        Holding(f"h{i}", draw(st.sampled_from(AGENTS)), draw(st.sampled_from(TEAMS)), draw(priorities))
        for i in range(draw(st.integers(0, 15)))
    ]
    waiting = []
    for i in range(draw(st.integers(0, 30))):
        due = draw(due_minutes)
        waiting.append(
            WaitingTicket(
                ticket_id=f"w{i}",
                team=draw(ticket_teams),
                priority=draw(priorities),
                request_type=draw(request_types),
                language=draw(ticket_languages),
                customer_id=draw(customers),
                product=draw(products),
                waiting_since=now - timedelta(minutes=draw(st.integers(0, 600))),
                first_due_at=None if due is None else now + timedelta(minutes=due),
                calendar=draw(calendars),
            )
        )
    return agents, teams, holdings, waiting, now


@settings(max_examples=200, deadline=None)
@given(desks(), st.lists(st.integers(0, 24 * 60), min_size=1, max_size=3))
def test_nobody_goes_over_capacity_and_every_ticket_goes_to_an_online_member_on_shift(
    desk_at: tuple[list[Agent], list[Team], list[Holding], list[WaitingTicket], datetime],
    later: list[int],
) -> None:
    """The same desk, kept, passes at `now` and then at instants up to a day later (in any order),
    each over new tickets and those still waiting: who is on shift is worked out again as calendars
    turn."""
    agents, teams, holdings, waiting, now = desk_at
    by_id = {a.id: a for a in agents}
    team_of = {t.id: t for t in teams}
    desk = Desk(agents, teams, holdings)
    loads = Counter[str]()
    for h in holdings:
        loads[h.agent_id] += LOAD_WEIGHT[h.priority]
    weight = {w.ticket_id: LOAD_WEIGHT[w.priority] for w in waiting}
    given: set[str] = set()
    instants = [now, *(now + timedelta(minutes=m) for m in later)]
    for i, at in enumerate(instants):
        # Each pass: what is still waiting from the passes before, and its own share of new tickets.
        offered = [w for w in waiting[: len(waiting) * (i + 1) // len(instants)] if w.ticket_id not in given]
        decisions = desk.assign_waiting(offered, at)
        for d in decisions:
            assert d.ticket_id not in given
            given.add(d.ticket_id)
            agent, team = by_id[d.agent_id], team_of[d.team]
            assert team.active and team.rule is not AssignmentRule.MANUAL
            assert d.agent_id in team.members
            assert agent.active and agent.availability is Availability.ONLINE
            assert on_shift(agent, team, at)
            # Never above capacity at the moment of the decision (loads only grow).
            loads[d.agent_id] += weight[d.ticket_id]
            assert loads[d.agent_id] <= agent.capacity
            assert d.explanation
        assert all(desk.load(a) == loads[a] for a in AGENTS)
