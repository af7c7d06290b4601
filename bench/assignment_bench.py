"""Choosing an agent among 1,000 agents and 100,000 open tickets: the assignment desk against a
naive scan of the same desk, in one run.

Builds A agents in T teams (Europe/Berlin and America/Los_Angeles 09:00-17:00 on weekdays, and some
24x7 teams; a tenth of the agents work their own hours, a fifth are in a second team, a few are
away or off; rules round robin, least loaded and skills), O open tickets of which W wait in the
pools and the rest are held (loads near capacity), each with a first due instant in its team's
calendar. Then, from Tuesday 15:30 UTC (Berlin open until 16:00 UTC, Los Angeles from 17:00 UTC):

- build: the desk from the agents, teams and holdings;
- pass: one `assign_waiting` over the whole pool (ranking W tickets by business time left, then
  deciding), amortised per decision;
- stream: D new tickets one at a time, a second apart (so Berlin closes during the stream and the
  desk works out who is on shift again), each `assign_waiting([ticket], now)`: the latency of one
  decision, p50/p99/max;
- hand-backs: an hour after Berlin closed, every holding of an agent away or off shift past the
  grace, found once;
- naive: the first N of the same stream decided by scanning every holding for loads and every
  agent for membership and shift, per decision; its choices are checked equal to the desk's;
- floor: the business time left of one ticket (one calendar question: the one computation every
  decision needs).

Prints the configuration, then the figures and the ratios naive / desk and desk / floor.

Run: .venv/bin/python bench/assignment_bench.py [--agents A] [--teams T] [--open O] [--waiting W]
     [--decisions D] [--naive N] [--seed S]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from assignment.domain.choosing import LOAD_WEIGHT, Desk, Holding, WaitingTicket, business_left
from assignment.domain.people import Agent, Team, on_shift
from supportdesk_calendar.calendar import BusinessCalendar, WeeklyWindow
from supportdesk_contract.catalogue import AssignmentRule, Availability
from supportdesk_contract.vocabulary import Priority, RequestType

# Tuesday 3 March 2026, 15:30 UTC: 16:30 in Berlin (closes 16:00 UTC), 07:30 in Los Angeles.
START = datetime(2026, 3, 3, 15, 30, tzinfo=UTC)
BERLIN = BusinessCalendar("berlin", "Europe/Berlin", [WeeklyWindow(d, 540, 1020) for d in range(5)])
LOS_ANGELES = BusinessCalendar("la", "America/Los_Angeles", [WeeklyWindow(d, 540, 1020) for d in range(5)])
AROUND_THE_CLOCK = BusinessCalendar("24x7", "UTC", [WeeklyWindow(d, 0, 1440) for d in range(7)])
RULES = [AssignmentRule.LEAST_LOADED, AssignmentRule.ROUND_ROBIN, AssignmentRule.SKILLS]
PRIORITIES = [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW]
PRIORITY_SHARES = [5, 20, 55, 20]
LANGUAGES = ["en", "de", "fr", "es"]
PRODUCTS = ["exports", "billing", "api", "dashboards", "sso", "mobile"]
CUSTOMERS = [f"cust-{i}" for i in range(40)]


def build(
    rng: random.Random, n_agents: int, n_teams: int, n_open: int, n_waiting: int
) -> tuple[list[Agent], list[Team], list[Holding], list[WaitingTicket]]:
    calendars = [BERLIN, LOS_ANGELES, AROUND_THE_CLOCK]
    team_calendars = [calendars[i % 5 % 3] for i in range(n_teams)]  # Berlin and LA twice as often as 24x7
    members: list[list[str]] = [[] for _ in range(n_teams)]
    agent_teams: list[set[int]] = []
    for i in range(n_agents):
        joined = {i % n_teams}
        if rng.random() < 0.2:
            joined.add(rng.randrange(n_teams))
        agent_teams.append(joined)
        for t in sorted(joined):
            members[t].append(f"agent-{i:04d}")
    agents = []
    for i, joined in enumerate(agent_teams):
        own = rng.choice(calendars) if rng.random() < 0.1 else None
        tags = {*rng.sample(PRODUCTS, 2), rng.choice(list(RequestType)).value, *rng.sample(CUSTOMERS, 2)}
        agents.append(
            Agent(
                id=f"agent-{i:04d}",
                name=f"Agent {i}",
                email=f"agent{i}@desk.example",
                subject=None,
                teams=frozenset(f"team-{t:02d}" for t in joined),
                skills=frozenset(tags),
                languages=frozenset(rng.sample(LANGUAGES, rng.choice([1, 1, 2]))),
                # Large enough to hold the benchmark's share of 100,000 open tickets with room left.
                capacity=rng.randint(120, 200),
                time_zone="UTC",
                working_hours=own,
                active=rng.random() > 0.01,
                availability=rng.choices(list(Availability), [85, 10, 5])[0],
            )
        )
    teams = [
        Team(
            id=f"team-{t:02d}",
            name=f"Team {t}",
            members=tuple(members[t]),
            lead=members[t][0] if members[t] else None,
            queues=(f"queue-{t:02d}",),
            calendar=team_calendars[t],
            escalation_tier=1,
            rule=RULES[t % len(RULES)],
            hand_back_after=timedelta(minutes=15),
            active=True,
        )
        for t in range(n_teams)
    ]
    room = {a.id: int(a.capacity * 0.8) for a in agents}  # held tickets fill about 80% of capacity
    holdings: list[Holding] = []
    by_id = {a.id: a for a in agents}
    ids = list(by_id)
    while len(holdings) < n_open - n_waiting:
        agent = by_id[rng.choice(ids)]
        priority = rng.choices(PRIORITIES, PRIORITY_SHARES)[0]
        if room[agent.id] < LOAD_WEIGHT[priority]:
            continue
        room[agent.id] -= LOAD_WEIGHT[priority]
        team = rng.choice(sorted(agent.teams))
        holdings.append(Holding(f"held-{len(holdings):06d}", agent.id, team, priority))
    waiting = [ticket(rng, f"waiting-{i:06d}", teams, START) for i in range(n_waiting)]
    return agents, teams, holdings, waiting


def ticket(rng: random.Random, ticket_id: str, teams: Sequence[Team], now: datetime) -> WaitingTicket:
    team = rng.choice(teams)
    calendar = team.calendar
    due: datetime | None = None
    if rng.random() < 0.9 and calendar is not None:
        # Due from two business hours ago to three business days ahead, in the team's calendar.
        seconds = rng.randint(-2 * 3600, 3 * 8 * 3600)
        due = calendar.add(now, seconds) if seconds >= 0 else now - timedelta(seconds=-seconds)
    return WaitingTicket(
        ticket_id=ticket_id,
        team=team.id,
        priority=rng.choices(PRIORITIES, PRIORITY_SHARES)[0],
        request_type=rng.choice([*RequestType, None]),
        language=rng.choice(LANGUAGES),
        customer_id=rng.choice(CUSTOMERS),
        product=rng.choice(PRODUCTS),
        waiting_since=now - timedelta(minutes=rng.randrange(600)),
        first_due_at=due,
        calendar=calendar if due is not None else None,
    )


class NaiveDesk:
    """The same rules decided by scanning: every holding for loads and every agent for membership
    and shift, for each decision."""

    def __init__(self, agents: Sequence[Agent], teams: Sequence[Team], holdings: Sequence[Holding]) -> None:
        self.agents = list(agents)
        self.teams = {t.id: t for t in teams}
        self.holdings = list(holdings)
        self.cursor: dict[str, str] = {}

    def decide(self, t: WaitingTicket, now: datetime) -> str | None:
        team = self.teams.get(t.team)
        if team is None or not team.active or team.rule is AssignmentRule.MANUAL:
            return None
        loads = Counter[str]()
        for h in self.holdings:
            loads[h.agent_id] += LOAD_WEIGHT[h.priority]
        weight = LOAD_WEIGHT[t.priority]
        room = sorted(
            (team.members.index(a.id), a)
            for a in self.agents
            if a.id in team.members
            and a.active
            and a.availability is Availability.ONLINE
            and on_shift(a, team, now)
            and loads[a.id] + weight <= a.capacity
        )
        if not room:
            return None

        def least_loaded(among: list[tuple[int, Agent]]) -> Agent:
            return min(among, key=lambda m: (loads[m[1].id] / m[1].capacity, loads[m[1].id], m[0]))[1]

        if team.rule is AssignmentRule.ROUND_ROBIN:
            last = self.cursor.get(team.id)
            after = team.members.index(last) if last in team.members else -1
            chosen = min(room, key=lambda m: (m[0] - after - 1) % len(team.members))[1]
        elif team.rule is AssignmentRule.SKILLS:
            language = t.language.split("-")[0].casefold() if t.language else None
            wanted = [x.casefold() for x in (t.request_type, t.product, t.customer_id) if x]

            def score(a: Agent) -> tuple[int, int]:
                speaks = {x.split("-")[0].casefold() for x in a.languages}
                skills = {x.casefold() for x in a.skills}
                return int(language in speaks) if language else 0, sum(x in skills for x in wanted)

            best = max(score(a) for _, a in room)
            chosen = least_loaded([m for m in room if score(m[1]) == best])
        else:
            chosen = least_loaded(room)
        self.holdings.append(Holding(t.ticket_id, chosen.id, team.id, t.priority))
        self.cursor[team.id] = chosen.id
        return chosen.id


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=1_000)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--waiting", type=int, default=5_000)
    parser.add_argument("--decisions", type=int, default=3_000)
    parser.add_argument("--naive", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    agents, teams, holdings, waiting = build(rng, args.agents, args.teams, args.open, args.waiting)
    stream_at = [START + timedelta(seconds=i) for i in range(args.decisions)]
    stream = [ticket(rng, f"new-{i:06d}", teams, at) for i, at in enumerate(stream_at)]
    rules = Counter(t.rule.value for t in teams)
    zones = Counter(t.calendar.name if t.calendar else "none" for t in teams)
    print(
        f"desk: {len(agents):,} agents in {len(teams)} teams (calendars {dict(zones)}, rules {dict(rules)}); "
        f"{len(holdings) + len(waiting):,} open tickets: {len(holdings):,} held, {len(waiting):,} waiting"
    )
    print(
        f"now: {START.isoformat()} (Berlin closes 16:00 UTC, Los Angeles opens 17:00 UTC); stream of "
        f"{len(stream):,} new tickets a second apart; naive scan on the first {min(args.naive, len(stream)):,}"
    )
    # The maxima are the machine's more than the desk's when it is busy: say how busy it was.
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

    gc.collect()
    build_s, built = timed(lambda: Desk(agents, teams, holdings))
    assert isinstance(built, Desk)
    pass_s, passed = timed(lambda: built.assign_waiting(waiting, START))
    assert isinstance(passed, list)
    print(f"build: desk of {len(holdings):,} holdings in {build_s * 1000:,.0f} ms")
    print(
        f"pass: {len(waiting):,} waiting ranked and {len(passed):,} given in {pass_s * 1000:,.0f} ms "
        f"({pass_s * 1000 / max(1, len(passed)):.3f} ms per decision, ranking included)"
    )

    desk = Desk(agents, teams, holdings)
    gc.collect()
    latencies: list[float] = []
    chosen: list[str | None] = []
    for t, at in zip(stream, stream_at, strict=True):
        started = time.perf_counter()
        decisions = desk.assign_waiting([t], at)
        latencies.append(time.perf_counter() - started)
        chosen.append(decisions[0].agent_id if decisions else None)
    given = sum(1 for c in chosen if c is not None)
    p50, p99, worst = (x * 1000 for x in (percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies)))
    print(
        f"stream (desk): {len(stream):,} decisions ({given:,} given, {len(stream) - given:,} left waiting): "
        f"p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {worst:.3f} ms; goal p99 < 20 ms"
    )

    naive = NaiveDesk(agents, teams, holdings)
    n = min(args.naive, len(stream))
    naive_latencies: list[float] = []
    for i in range(n):
        started = time.perf_counter()
        agent = naive.decide(stream[i], stream_at[i])
        naive_latencies.append(time.perf_counter() - started)
        assert agent == chosen[i], f"{stream[i].ticket_id}: naive {agent}, desk {chosen[i]}"
    naive_p50, naive_p99 = (x * 1000 for x in (percentile(naive_latencies, 0.5), percentile(naive_latencies, 0.99)))
    desk_p50_same = statistics.median(latencies[:n]) * 1000
    print(
        f"stream (naive scan): {n:,} decisions, the same agents as the desk's: "
        f"p50 {naive_p50:.3f} ms, p99 {naive_p99:.3f} ms"
    )

    later = START + timedelta(hours=1)  # Berlin closed an hour ago: its agents' tickets go back
    away = {a.id: START - timedelta(hours=1) for a in agents if a.availability is not Availability.ONLINE}
    back_s, backs = timed(lambda: desk.hand_backs(later, away))
    assert isinstance(backs, list)
    print(
        f"hand-backs: {len(backs):,} holdings of agents away or off shift past the grace found in "
        f"{back_s * 1000:,.0f} ms at {later.isoformat()}"
    )

    floor_latencies = []
    for t, at in zip(stream, stream_at, strict=True):
        started = time.perf_counter()
        business_left(t, at)
        floor_latencies.append(time.perf_counter() - started)
    floor_p50 = statistics.median(floor_latencies) * 1000
    print(f"floor: business time left of one ticket, p50 {floor_p50:.4f} ms")
    print(
        f"ratios: naive / desk p50 (same {n:,} tickets) {naive_p50 / desk_p50_same:,.0f}x; "
        f"desk p50 / floor {p50 / floor_p50:,.1f}x; desk p99 / goal {p99 / 20:.3f}"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
