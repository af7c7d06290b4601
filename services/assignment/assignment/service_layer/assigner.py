"""One assignment pass over the whole desk: the tickets of agents away or off shift past their
team's grace go back to the pool, then the pool is handed out by each team's rule. One replica at
a time (the pass claims its row, docs/decisions/0013), everything in one transaction with the
outbox: each decision is an event with its reason and explanation."""

from __future__ import annotations

from prometheus_client import Counter

from supportdesk_contract.catalogue import AssignmentReason, Availability
from supportdesk_service.runtime import ServiceRuntime

from ..adapters import repository
from ..domain.choosing import Desk
from ..settings import Settings
from .commands import save_all
from .desk import agent_of, holder_of, team_of, waiting_of
from .holders import BY, Change, Holder, give, hand_back

DECISIONS = Counter(
    "supportdesk_assignment_decisions_total", "Tickets the assignment pass gave or handed back", ["kind"]
)


async def assign_pass(runtime: ServiceRuntime[Settings]) -> int:
    """Run one pass if no other replica is; the number of tickets given or handed back."""
    clock = runtime.clock
    now = clock.now()
    async with runtime.engine.begin() as conn:
        last_given = await repository.claim_pass(conn)
        if last_given is None:
            return 0
        agent_rows = await repository.agent_rows(conn)
        agents = [agent_of(r) for r in agent_rows]
        teams = [team_of(r) for r in await repository.team_rows(conn)]
        desk = Desk(agents, teams, (), last_given)
        absent_since = {r.agent_id: r.availability_since for r in agent_rows if r.availability != Availability.ONLINE}
        # The desk is told each agent's load as counts, and the tickets one by one only of those
        # whose holdings go back now: the pass reads the whole desk each time, so it reads little.
        counts = await repository.held_counts(conn)
        due = desk.due_back({(agent, team) for agent, team, _, _ in counts}, now, absent_since)
        for agent, team, priority, n in counts:
            if (agent, team) not in due:
                desk.carry(agent, priority, n)
        for holding in await repository.held_by(conn, due):
            desk.hold(holding)
        changes: list[tuple[str, Holder, Change]] = []
        for back in desk.hand_backs(now, absent_since):
            # A ticket a command or the consumer holds just now goes back at the next pass: the pass
            # never waits on a ticket's lock, so it can never deadlock with them.
            row = await repository.get_ticket(conn, back.ticket_id, for_update=True, skip_locked=True)
            if row is not None and row.agent == back.agent_id:  # else someone reassigned it meanwhile
                before = holder_of(row)
                changes.append((back.ticket_id, before, hand_back(before, BY, back.reason, back.explanation, now)))
        handed = len(changes)
        await save_all(conn, changes, clock)
        # Read after the hand-backs: a ticket back in its pool may go to someone on shift at once.
        pool = {r.ticket_id: r for r in await repository.waiting(conn)}
        decisions = desk.assign_waiting([waiting_of(r) for r in pool.values()], now, runtime.settings.pass_limit)
        changes = []
        for d in decisions:
            before = holder_of(pool[d.ticket_id])
            changes.append(
                (d.ticket_id, before, give(before, d.agent_id, d.team, BY, AssignmentReason.RULE, d.explanation))
            )
        await save_all(conn, changes, clock)
        await repository.save_pass(conn, desk.last_given(), now)
    DECISIONS.labels("given").inc(len(decisions))
    DECISIONS.labels("handed_back").inc(handed)
    return len(decisions) + handed
