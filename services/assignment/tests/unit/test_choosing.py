"""Automatic assignment: who may receive a ticket, which ticket goes first, which rule picks whom,
what the explanation says, and when held tickets go back to the pool."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from assignment.domain.choosing import LOAD_WEIGHT, Desk, Holding, WaitingTicket
from assignment.domain.people import Agent, Team
from supportdesk_calendar.calendar import BusinessCalendar, WeeklyWindow
from supportdesk_contract.catalogue import AssignmentReason, AssignmentRule, Availability
from supportdesk_contract.vocabulary import Priority, RequestType

BERLIN = BusinessCalendar("berlin", "Europe/Berlin", [WeeklyWindow(d, 540, 1020) for d in range(5)])
LOS_ANGELES = BusinessCalendar("la", "America/Los_Angeles", [WeeklyWindow(d, 540, 1020) for d in range(5)])
# Wednesday 1 July 2026, 12:00 UTC: 14:00 in Berlin (open), 05:00 in Los Angeles (closed).
NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)


def person(
    id: str,
    capacity: int = 8,
    teams: Iterable[str] = ("t",),
    skills: Iterable[str] = (),
    languages: Iterable[str] = ("en",),
    hours: BusinessCalendar | None = None,
    availability: Availability = Availability.ONLINE,
    active: bool = True,
) -> Agent:
    return Agent(
        id=id,
        name=id.capitalize(),
        email=f"{id}@desk.example",
        subject=None,
        teams=frozenset(teams),
        skills=frozenset(skills),
        languages=frozenset(languages),
        capacity=capacity,
        time_zone="UTC",
        working_hours=hours,
        active=active,
        availability=availability,
    )


def crew(
    members: Iterable[str],
    rule: AssignmentRule = AssignmentRule.LEAST_LOADED,
    id: str = "t",
    calendar: BusinessCalendar | None = None,
    grace: timedelta = timedelta(minutes=15),
) -> Team:
    return Team(
        id=id,
        name=id.capitalize(),
        members=tuple(members),
        lead=None,
        queues=(id,),
        calendar=calendar,
        escalation_tier=None,
        rule=rule,
        hand_back_after=grace,
        active=True,
    )


def waiting(
    id: str,
    team: str = "t",
    priority: Priority = Priority.NORMAL,
    since: datetime = NOW - timedelta(hours=1),
    due: datetime | None = None,
    calendar: BusinessCalendar | None = None,
    language: str | None = None,
    request_type: RequestType | None = None,
    product: str | None = None,
    customer: str | None = None,
) -> WaitingTicket:
    return WaitingTicket(
        ticket_id=id,
        team=team,
        priority=priority,
        request_type=request_type,
        language=language,
        customer_id=customer,
        product=product,
        waiting_since=since,
        first_due_at=due,
        calendar=calendar,
    )


def held(agent: str, *priorities: Priority, team: str = "t") -> list[Holding]:
    return [Holding(f"{agent}-held-{i}", agent, team, p) for i, p in enumerate(priorities)]


def given(desk: Desk, tickets: Iterable[WaitingTicket], now: datetime = NOW) -> list[tuple[str, str]]:
    return [(d.ticket_id, d.agent_id) for d in desk.assign_waiting(tickets, now)]


# --- who may receive a ticket --------------------------------------------------------------------


def test_capacity_is_never_exceeded_and_what_does_not_fit_stays_waiting() -> None:
    desk = Desk([person("pat", capacity=4)], [crew(["pat"])], held("pat", Priority.NORMAL))
    first = waiting("urgent", priority=Priority.URGENT, since=NOW - timedelta(hours=2))
    decisions = given(desk, [first, *(waiting(f"n{i}") for i in range(3))])
    # The urgent one (weight 3, the oldest) fits on 1/4; then nothing fits.
    assert decisions == [("urgent", "pat")]
    assert desk.load("pat") == 4
    assert given(desk, [waiting("n9")]) == []


def test_a_smaller_ticket_still_goes_where_a_bigger_one_did_not_fit() -> None:
    desk = Desk([person("pat", capacity=3)], [crew(["pat"])], held("pat", Priority.NORMAL))
    decisions = given(desk, [waiting("u", priority=Priority.URGENT, since=NOW - timedelta(hours=2)), waiting("n")])
    assert decisions == [("n", "pat")]
    assert desk.load("pat") == 2


def test_only_active_online_members_on_shift_now_receive_tickets() -> None:
    agents = [
        person("away", availability=Availability.AWAY),
        person("off", availability=Availability.OFF),
        person("gone", active=False),
        person("asleep", hours=LOS_ANGELES),  # 05:00 in Los Angeles
        person("stranger", teams=("other",)),  # not a member of the ticket's team
        person("zero", capacity=0),
        person("kim", capacity=2),
    ]
    team = crew(["away", "off", "gone", "asleep", "zero", "kim"], calendar=BERLIN)
    desk = Desk(agents, [team], [])
    assert given(desk, [waiting(f"w{i}") for i in range(5)]) == [("w0", "kim"), ("w1", "kim")]
    # Berlin closed at 17:00 CEST (15:00 UTC), Los Angeles not yet open (08:30): nobody is on shift.
    assert given(desk, [waiting("late")], datetime(2026, 7, 1, 15, 30, tzinfo=UTC)) == []
    # Los Angeles opens at 16:00 UTC: the agent with their own hours works while Berlin is closed.
    assert given(desk, [waiting("late")], datetime(2026, 7, 1, 16, 30, tzinfo=UTC)) == [("late", "asleep")]


def test_a_manual_team_never_assigns_and_a_stuck_ticket_does_not_block_other_teams() -> None:
    agents = [person("pat", capacity=1, teams=("a",)), person("sam", teams=("b",)), person("kim", teams=("m",))]
    teams = [crew(["pat"], id="a"), crew(["sam"], id="b"), crew(["kim"], id="m", rule=AssignmentRule.MANUAL)]
    desk = Desk(agents, teams, held("pat", Priority.LOW, team="a"))
    tickets = [
        waiting("a1", team="a", since=NOW - timedelta(hours=3)),  # oldest, but pat is full
        waiting("m1", team="m", since=NOW - timedelta(hours=2)),
        waiting("b1", team="b"),
        waiting("x1", team="unknown"),
    ]
    assert given(desk, tickets) == [("b1", "sam")]


def test_a_ticket_the_desk_already_holds_is_not_waiting() -> None:
    desk = Desk([person("pat"), person("sam")], [crew(["pat", "sam"])], held("pat", Priority.NORMAL))
    assert given(desk, [waiting("pat-held-0"), waiting("new")]) == [("new", "sam")]


def test_limit_stops_after_that_many_decisions() -> None:
    desk = Desk([person("pat")], [crew(["pat"])], [])
    assert len(desk.assign_waiting([waiting(f"w{i}") for i in range(5)], NOW, limit=2)) == 2
    assert desk.load("pat") == 2


# --- which ticket goes first ---------------------------------------------------------------------


def test_two_business_minutes_before_closing_outrank_thirty_open_minutes() -> None:
    # 16:58 in Berlin: "closing" has 2 business minutes left although it is due tomorrow at 09:00
    # (16 hours away on the wall clock); "open" (24x7) has 30 minutes left, and is older.
    now = datetime(2026, 7, 1, 14, 58, tzinfo=UTC)
    closing = waiting("closing", due=datetime(2026, 7, 2, 7, tzinfo=UTC), calendar=BERLIN, since=now)
    around_the_clock = BusinessCalendar("24x7", "UTC", [WeeklyWindow(d, 0, 1440) for d in range(7)])
    open_hours = waiting(
        "open", due=now + timedelta(minutes=30), calendar=around_the_clock, since=now - timedelta(hours=2)
    )
    desk = Desk([person("pat", capacity=1)], [crew(["pat"])], [])
    assert given(desk, [open_hours, closing], now) == [("closing", "pat")]
    # On the wall clock alone the other would have gone first: that is the point.
    assert open_hours.first_due_at is not None and closing.first_due_at is not None
    assert open_hours.first_due_at < closing.first_due_at


def test_breached_first_then_least_time_left_then_no_clock_oldest_first_then_by_id() -> None:
    tickets = [
        waiting("no-clock-old", since=NOW - timedelta(hours=5)),
        waiting("no-clock-b", since=NOW - timedelta(hours=1)),
        waiting("no-clock-a", since=NOW - timedelta(hours=1)),
        waiting("due-in-an-hour", due=NOW + timedelta(hours=1), calendar=BERLIN),
        waiting("breached-long-ago", due=NOW - timedelta(hours=3), calendar=BERLIN),
        waiting("breached-just-now", due=NOW - timedelta(minutes=1), calendar=BERLIN),
        waiting("due-in-ten-minutes", due=NOW + timedelta(minutes=10)),
    ]
    desk = Desk([person("pat", capacity=100)], [crew(["pat"])], [])
    order = [ticket for ticket, _ in given(desk, tickets)]
    assert order == [
        "breached-long-ago",
        "breached-just-now",
        "due-in-ten-minutes",
        "due-in-an-hour",
        "no-clock-old",
        "no-clock-a",
        "no-clock-b",
    ]


def test_equal_time_left_goes_to_the_ticket_waiting_longest() -> None:
    due = NOW + timedelta(hours=2)
    tickets = [waiting("new", due=due, since=NOW), waiting("old", due=due, since=NOW - timedelta(days=1))]
    desk = Desk([person("pat", capacity=1)], [crew(["pat"])], [])
    assert given(desk, tickets) == [("old", "pat")]


# --- the rules -----------------------------------------------------------------------------------


def test_round_robin_goes_round_in_member_order_from_after_the_last_given() -> None:
    agents = [person(x) for x in ("ann", "bob", "cat", "dan")]
    desk = Desk(agents, [crew(["ann", "bob", "cat", "dan"], rule=AssignmentRule.ROUND_ROBIN)], [], {"t": "bob"})
    decisions = given(desk, [waiting(f"w{i}") for i in range(6)])
    assert [agent for _, agent in decisions] == ["cat", "dan", "ann", "bob", "cat", "dan"]
    assert desk.last_given() == {"t": "dan"}


def test_round_robin_skips_who_cannot_take_it_and_starts_at_the_top_without_a_cursor() -> None:
    agents = [person("ann"), person("bob", availability=Availability.AWAY), person("cat", capacity=1)]
    team = crew(["ann", "bob", "cat"], rule=AssignmentRule.ROUND_ROBIN)
    desk = Desk(agents, [team], held("cat", Priority.NORMAL))
    decisions = desk.assign_waiting([waiting("w1"), waiting("w2")], NOW)
    assert [d.agent_id for d in decisions] == ["ann", "ann"]
    assert (
        decisions[0].explanation
        == "round robin from the first member, next of 1 on shift with room (1 more full): Ann 0/8"
    )
    assert decisions[1].explanation.startswith("round robin after Ann, ")


def test_least_loaded_counts_priorities_by_weight_against_capacity() -> None:
    # pat holds one urgent ticket (3/8), sam three low ones (3/8), kim two normal ones (2/8).
    agents = [person("pat"), person("sam"), person("kim")]
    holdings = held("pat", Priority.URGENT) + held("sam", *[Priority.LOW] * 3) + held("kim", *[Priority.NORMAL] * 2)
    desk = Desk(agents, [crew(["pat", "sam", "kim"])], holdings)
    assert LOAD_WEIGHT[Priority.URGENT] == 3 and LOAD_WEIGHT[Priority.LOW] == 1
    decision = desk.assign_waiting([waiting("w", priority=Priority.HIGH)], NOW)[0]
    assert decision.agent_id == "kim"
    assert decision.explanation == "least loaded of 3 on shift with room: Kim 2/8, Pat 3/8, Sam 3/8"
    assert desk.load("kim") == 4


def test_least_loaded_is_by_share_of_capacity_then_load_then_member_order() -> None:
    # ann 3/10 (0.3) beats bob 2/4 (0.5); then cat 2/8 and dan 1/4 share 0.25: dan has the lower load.
    agents = [person("ann", capacity=10), person("bob", capacity=4), person("cat"), person("dan", capacity=4)]
    holdings = held("ann", Priority.URGENT) + held("bob", Priority.HIGH) + held("cat", Priority.HIGH)
    holdings += held("dan", Priority.LOW)
    desk = Desk(agents, [crew(["ann", "bob", "cat", "dan"])], holdings)
    assert given(desk, [waiting("w1")]) == [("w1", "dan")]
    # dan is now 2/4 (0.5); cat 2/8 (0.25) is least loaded; then cat 3/8 vs ann 3/10: ann.
    assert given(desk, [waiting("w2"), waiting("w3")]) == [("w2", "cat"), ("w3", "ann")]


def test_skills_prefer_the_language_then_the_most_skills_then_the_least_loaded() -> None:
    agents = [
        person("eve", languages=("en",), skills=("problem", "exports", "acme")),  # every skill, not German
        person("max", languages=("de",), skills=("problem",)),
        person("uwe", languages=("de", "en"), skills=("problem", "exports")),
        person("ida", languages=("de",), skills=("Problem", "Exports")),  # as good as uwe, less loaded
    ]
    holdings = held("uwe", Priority.NORMAL, Priority.NORMAL) + held("ida", Priority.NORMAL)
    desk = Desk(agents, [crew(["eve", "max", "uwe", "ida"], rule=AssignmentRule.SKILLS)], holdings)
    ticket = waiting("w", language="de-AT", request_type=RequestType.PROBLEM, product="exports", customer="globex")
    decision = desk.assign_waiting([ticket], NOW)[0]
    assert decision.agent_id == "ida"
    assert decision.explanation == (
        "skills de, problem, exports, globex: best match (de, problem, exports) for 2 of 4 on shift with room;"
        " least loaded of them: Ida 1/8, Uwe 2/8"
    )


def test_skills_fall_back_to_the_least_loaded_when_nobody_matches_and_say_so() -> None:
    agents = [person("eve", languages=("en",)), person("max", languages=("de",))]
    desk = Desk(agents, [crew(["eve", "max"], rule=AssignmentRule.SKILLS)], held("eve", Priority.NORMAL))
    decision = desk.assign_waiting([waiting("w", language="fr", product="billing")], NOW)[0]
    assert decision.agent_id == "max"
    assert decision.explanation == (
        "skills fr, billing: nobody of 2 on shift with room matches; least loaded of them: Max 0/8, Eve 1/8"
    )
    untagged = desk.assign_waiting([waiting("plain")], NOW)[0]
    assert untagged.explanation.startswith("skills: the ticket asks for none; least loaded of 2 on shift with room")


def test_skills_go_to_a_lesser_match_when_the_best_has_no_room() -> None:
    agents = [person("max", languages=("de",), capacity=1), person("eve", languages=("en",))]
    desk = Desk(agents, [crew(["max", "eve"], rule=AssignmentRule.SKILLS)], held("max", Priority.LOW))
    decision = desk.assign_waiting([waiting("w", language="de")], NOW)[0]
    assert decision.agent_id == "eve"
    assert "nobody of 1 on shift with room (1 more full) matches" in decision.explanation


# --- explanations and determinism ----------------------------------------------------------------


def test_an_explanation_names_at_most_eight_candidates_then_how_many_more() -> None:
    names = [f"a{i:02d}" for i in range(12)]
    desk = Desk([person(n) for n in names], [crew(names)], [])
    decision = desk.assign_waiting([waiting("w")], NOW)[0]
    assert decision.explanation == (
        "least loaded of 12 on shift with room: A00 0/8, A01 0/8, A02 0/8, A03 0/8, A04 0/8, A05 0/8, A06 0/8,"
        " A07 0/8, and 4 more"
    )


def test_the_same_desk_decides_the_same_whatever_order_it_is_given_in() -> None:
    rng = random.Random(7)
    agents = [person(f"a{i}", capacity=rng.randint(1, 6), teams=("x", "y")) for i in range(10)]
    teams = [
        crew([a.id for a in agents], id="x", rule=AssignmentRule.ROUND_ROBIN),
        crew([a.id for a in agents[::-1]], id="y", rule=AssignmentRule.LEAST_LOADED),
    ]
    priorities = list(Priority)
    holdings = [Holding(f"h{i}", f"a{rng.randrange(10)}", "x", rng.choice(priorities)) for i in range(12)]
    tickets = [
        waiting(
            f"w{i}",
            team=rng.choice(["x", "y"]),
            priority=rng.choice(priorities),
            since=NOW - timedelta(minutes=rng.randrange(3)),
            due=rng.choice([None, NOW + timedelta(minutes=rng.randrange(-30, 30, 10))]),
        )
        for i in range(40)
    ]

    def decide(order: int) -> list[tuple[str, str, str]]:
        shuffled = random.Random(order)
        desk = Desk(shuffled.sample(agents, len(agents)), teams, shuffled.sample(holdings, len(holdings)), {"x": "a3"})
        return [
            (d.ticket_id, d.agent_id, d.explanation)
            for d in desk.assign_waiting(shuffled.sample(tickets, len(tickets)), NOW)
        ]

    first = decide(0)
    assert len(first) > 5
    assert all(decide(order) == first for order in range(1, 5))


# --- handing back --------------------------------------------------------------------------------


def test_an_away_agent_hands_back_after_the_grace_and_not_before() -> None:
    went_away = NOW - timedelta(minutes=10)
    agents = [person("pat", availability=Availability.AWAY, teams=("t", "u")), person("sam")]
    teams = [crew(["pat", "sam"]), crew(["pat"], id="u", grace=timedelta(minutes=5))]
    holdings = held("pat", Priority.NORMAL, Priority.HIGH) + held("sam", Priority.LOW)
    holdings.append(Holding("pat-u", "pat", "u", Priority.URGENT))
    desk = Desk(agents, teams, holdings)
    # Ten minutes away: over team u's 5-minute grace, not yet team t's 15.
    early = desk.hand_backs(NOW, {"pat": went_away})
    assert [(h.ticket_id, h.reason) for h in early] == [("pat-u", AssignmentReason.AWAY)]
    assert early[0].explanation == "Pat away since 2026-07-01T11:50+00:00, over the 5 min grace of U"
    assert desk.load("pat") == 3
    assert desk.hand_backs(NOW + timedelta(minutes=4), {"pat": went_away}) == []
    later = desk.hand_backs(NOW + timedelta(minutes=5), {"pat": went_away})
    assert [(h.ticket_id, h.team, h.reason) for h in later] == [
        ("pat-held-0", "t", AssignmentReason.AWAY),
        ("pat-held-1", "t", AssignmentReason.AWAY),
    ]
    assert desk.load("pat") == 0 and desk.load("sam") == 1


def test_an_agent_off_shift_hands_back_after_the_grace_and_not_before() -> None:
    # Berlin closes at 17:00 CEST = 15:00 UTC.
    desk = Desk([person("pat")], [crew(["pat"], calendar=BERLIN)], held("pat", Priority.NORMAL))
    closed = datetime(2026, 7, 1, 15, tzinfo=UTC)
    assert desk.hand_backs(closed - timedelta(minutes=1), {}) == []  # still on shift
    assert desk.hand_backs(closed + timedelta(minutes=14, seconds=59), {}) == []
    [back] = desk.hand_backs(closed + timedelta(minutes=15), {})
    assert (back.ticket_id, back.reason) == ("pat-held-0", AssignmentReason.OFF_SHIFT)
    assert back.explanation == "Pat off shift since 2026-07-01T15:00+00:00, over the 15 min grace of T"
    assert desk.load("pat") == 0


def test_away_within_the_grace_but_off_shift_for_longer_hands_back_as_off_shift() -> None:
    evening = datetime(2026, 7, 1, 19, tzinfo=UTC)  # Berlin closed at 15:00 UTC
    desk = Desk(
        [person("pat", availability=Availability.OFF)], [crew(["pat"], calendar=BERLIN)], held("pat", Priority.LOW)
    )
    [back] = desk.hand_backs(evening, {"pat": evening - timedelta(minutes=1)})
    assert back.reason is AssignmentReason.OFF_SHIFT


def test_an_agent_who_left_the_desk_or_went_away_at_an_unknown_time_hands_back_at_once() -> None:
    agents = [person("gone", active=False), person("away", availability=Availability.AWAY), person("here")]
    holdings = held("gone", Priority.LOW) + held("away", Priority.LOW) + held("here", Priority.LOW)
    desk = Desk(agents, [crew(["gone", "away", "here"])], holdings)
    backs = desk.hand_backs(NOW, {})
    assert [(h.agent_id, h.reason) for h in backs] == [
        ("away", AssignmentReason.AWAY),
        ("gone", AssignmentReason.AWAY),
    ]
    assert "left the desk" in backs[1].explanation


def test_a_kept_desk_follows_holds_releases_and_profile_changes() -> None:
    desk = Desk([person("pat", capacity=2)], [crew(["pat"])], [])
    desk.hold(Holding("claimed", "pat", "t", Priority.HIGH))
    assert given(desk, [waiting("w1")]) == []
    assert desk.release("claimed") is not None and desk.load("pat") == 0
    desk.put_agent(person("pat", capacity=2, availability=Availability.AWAY))
    assert given(desk, [waiting("w1")]) == []
    desk.put_agent(person("pat", capacity=2))
    assert given(desk, [waiting("w1")]) == [("w1", "pat")]
    assert desk.holding("w1") == Holding("w1", "pat", "t", Priority.NORMAL)


def test_the_members_on_shift_change_when_a_calendar_opens_or_closes() -> None:
    agents = [person("ber"), person("lax", hours=LOS_ANGELES)]
    desk = Desk(agents, [crew(["ber", "lax"], calendar=BERLIN)], [])
    at = datetime(2026, 7, 1, 14, 59, tzinfo=UTC)  # 16:59 in Berlin, 07:59 in Los Angeles
    assert [a.id for a in desk.on_shift_members("t", at)] == ["ber"]
    assert [a.id for a in desk.on_shift_members("t", at + timedelta(minutes=1))] == []  # Berlin closed
    assert [a.id for a in desk.on_shift_members("t", at + timedelta(minutes=61))] == ["lax"]  # LA open
    assert [a.id for a in desk.on_shift_members("t", at)] == ["ber"]  # asked about the past again
    assert desk.on_shift_members("nobody", at) == ()


def test_handed_back_tickets_free_room_for_the_next_pass() -> None:
    agents = [person("pat", capacity=1, availability=Availability.AWAY), person("sam", capacity=1)]
    desk = Desk(agents, [crew(["pat", "sam"])], held("pat", Priority.NORMAL) + held("sam", Priority.NORMAL))
    [back] = desk.hand_backs(NOW, {"pat": NOW - timedelta(hours=1)})
    assert given(desk, [waiting(back.ticket_id)]) == []  # sam is full, pat is away
    desk.release("sam-held-0")
    assert given(desk, [waiting(back.ticket_id)]) == [("pat-held-0", "sam")]


def test_loads_carried_as_counts_weigh_like_tickets_told_one_by_one() -> None:
    agents = [person("pat", capacity=4), person("sam", capacity=4)]
    one_by_one = Desk(agents, [crew(["pat", "sam"])], held("pat", Priority.URGENT) + held("sam", Priority.LOW))
    counted = Desk(agents, [crew(["pat", "sam"])], [])
    counted.carry("pat", Priority.URGENT, 1)
    counted.carry("sam", Priority.LOW, 1)
    assert counted.load("pat") == one_by_one.load("pat") == 3
    tickets = [waiting(f"w{i}") for i in range(4)]
    assert given(counted, tickets) == given(one_by_one, tickets)
    assert counted.hand_backs(NOW, {}) == []  # counts name no ticket to hand back


def test_due_back_names_the_holders_whose_tickets_go_back_now() -> None:
    agents = [person("gone", active=False), person("away", availability=Availability.AWAY), person("here")]
    desk = Desk(agents, [crew(["gone", "away", "here"])], [])
    holders = {("gone", "t"), ("away", "t"), ("here", "t"), ("stranger", "t"), ("here", "no-such-team")}
    assert desk.due_back(holders, NOW, {"away": NOW - timedelta(minutes=20)}) == {("gone", "t"), ("away", "t")}
    assert desk.due_back(holders, NOW, {"away": NOW - timedelta(minutes=5)}) == {("gone", "t")}  # within grace
