"""Who holds a ticket, as the fold keeps it (in any order of the topics), what the timeline says of
it, and the directory folded from the people events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from board.domain.directory import Directory, caller_agent, teams_of
from board.domain.ticket_view import TicketView
from board.domain.timeline import describe
from supportdesk_contract.catalogue import (
    AssignmentReason,
    Availability,
    ClockKind,
    ClosureCode,
    Event,
    Priority,
    SlaAtRisk,
    TicketClosed,
)
from supportdesk_devstack.testing.events import (
    GOLD,
    agent_profile,
    assigned,
    availability,
    opened,
    started,
    team_profile,
    triaged,
    unassigned,
)

from .test_ticket_view import interleavings

T0 = datetime(2026, 12, 7, 9, tzinfo=UTC)
M = timedelta(minutes=1)
Timed = tuple[Event, datetime]


def fold(events: Sequence[Timed]) -> TicketView:
    view = TicketView()
    for event, at in events:
        view.apply(event, at)
    return view


def test_an_assignment_before_the_ticket_is_opened_or_triaged_gives_the_same_row_in_any_order() -> None:
    lifecycle: list[Timed] = [(opened(opened_at=T0, number="TKT-9", **GOLD), T0)]
    triage: list[Timed] = [(triaged(priority=Priority.HIGH, queue="billing", opened_at=T0, **GOLD), T0 + M)]
    sla: list[Timed] = [
        (started(due_at=T0 + 60 * M, started_at=T0), T0),
        (SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=75, due_at=T0 + 60 * M), T0 + 45 * M),
    ]
    assignment: list[Timed] = [
        (assigned(None, "billing-team"), T0 + 2 * M),  # the team's pool first
        (assigned("pat", "billing-team", explanation="least loaded of 2"), T0 + 10 * M),
    ]
    rows = {repr(fold(order).row()) for order in interleavings([lifecycle, triage, sla, assignment])}
    assert len(rows) == 1
    row = fold([*assignment, *lifecycle, *triage, *sla]).row()
    assert (row["assignee"], row["team"], row["third_party"]) == ("pat", "billing-team", None)
    assert (row["assigned_at"], row["unassigned_since"]) == (T0 + 10 * M, None)
    assert (row["number"], row["queue"], row["at_risk"]) == ("TKT-9", "billing", True)
    # Before the ticket opened (only its assignment known) it has no instant to wait since.
    only = fold(assignment[:1]).row()
    assert (only["assignee"], only["team"], only["unassigned_since"]) == (None, "billing-team", None)


def test_an_open_ticket_nobody_holds_waits_since_it_opened_or_since_its_holder_let_go() -> None:
    opening: list[Timed] = [(opened(opened_at=T0), T0)]
    assert fold(opening).row()["unassigned_since"] == T0
    # A team's pool is nobody: still waiting since it opened.
    pooled = fold([*opening, (assigned(None, "tier-1"), T0 + M)]).row()
    assert (pooled["assignee"], pooled["team"], pooled["unassigned_since"]) == (None, "tier-1", T0)
    held = [*opening, (assigned("pat", "tier-1"), T0 + 5 * M)]
    assert fold(held).row()["unassigned_since"] is None
    back = fold([*held, (unassigned("pat", "tier-1", reason=AssignmentReason.AWAY), T0 + 30 * M)]).row()
    assert (back["assignee"], back["team"], back["assigned_at"]) == (None, "tier-1", None)
    assert back["unassigned_since"] == T0 + 30 * M
    # Reassigned to the pool by a changed queue: the same, through TicketAssigned.
    moved = fold([*held, (assigned(None, "tier-2", reason=AssignmentReason.QUEUE_CHANGED), T0 + 40 * M)]).row()
    assert (moved["assignee"], moved["team"], moved["unassigned_since"]) == (None, "tier-2", T0 + 40 * M)
    # Handed to a vendor: held (by a third party), not waiting.
    vendor = [
        *held,
        (assigned(None, None, third_party="acme-vendor", reason=AssignmentReason.THIRD_PARTY), T0 + 50 * M),
    ]
    row = fold(vendor).row()
    assert (row["assignee"], row["third_party"], row["assigned_at"], row["unassigned_since"]) == (
        None,
        "acme-vendor",
        T0 + 50 * M,
        None,
    )
    # Another agent of the same team: held since the handover; the same agent again keeps the instant.
    again = fold([*held, (assigned("sam", "tier-1", previous_agent="pat"), T0 + 60 * M)]).row()
    assert (again["assignee"], again["assigned_at"]) == ("sam", T0 + 60 * M)
    same = fold([*held, (assigned("pat", "tier-2"), T0 + 70 * M)]).row()
    assert (same["assignee"], same["team"], same["assigned_at"]) == ("pat", "tier-2", T0 + 5 * M)


def test_a_closed_ticket_keeps_its_last_holder_for_history_whatever_comes_first() -> None:
    lifecycle: list[Timed] = [
        (opened(opened_at=T0), T0),
        (TicketClosed(closure_code=ClosureCode.CUSTOMER_CONFIRMED, by="pat"), T0 + 90 * M),
    ]
    assignment: list[Timed] = [
        (assigned("pat", "tier-1"), T0 + M),
        (unassigned("pat", None, reason=AssignmentReason.CLOSED), T0 + 90 * M),
    ]
    rows = {repr(fold(order).row()) for order in interleavings([lifecycle, assignment])}
    assert len(rows) == 1
    row = fold([*lifecycle, *assignment]).row()
    assert (row["is_open"], row["assignee"], row["unassigned_since"]) == (False, "pat", None)
    # Closed while still held (no unassignment): the same holder, still not waiting.
    kept = fold([*lifecycle, *assignment[:1]]).row()
    assert (kept["is_open"], kept["assignee"], kept["assigned_at"]) == (False, "pat", T0 + M)


def test_the_timeline_says_who_assigned_what_to_whom_and_why() -> None:
    rule = describe(assigned("pat", "tier-1", explanation="least loaded of 2 on shift: pat 2/8, sam 5/8"), "assignment")
    assert (rule.actor, rule.summary) == (
        "assignment",
        "assigned to pat of team tier-1, by the team's rule: least loaded of 2 on shift: pat 2/8, sam 5/8",
    )
    claim = describe(assigned("sam", "tier-1", previous_agent="pat", by="sam", reason=AssignmentReason.CLAIMED), "x")
    assert (claim.actor, claim.summary) == ("sam", "assigned to sam of team tier-1 (was pat), claimed by the agent")
    vendor = describe(assigned(None, None, third_party="acme", by="lea", reason=AssignmentReason.THIRD_PARTY), "x")
    assert vendor.summary == "assigned to third party acme, handed to a third party"
    away = describe(unassigned("pat", "tier-1", reason=AssignmentReason.AWAY, explanation="away 15 min"), "x")
    assert away.summary == "unassigned from pat, back to team tier-1's pool, because the holder went away: away 15 min"


def test_the_directory_keeps_each_latest_profile_and_availability_in_any_order_of_the_two() -> None:
    d = Directory()
    d.apply(availability("pat", Availability.ONLINE), T0)  # before the profile: kept
    d.apply(agent_profile("pat", teams=("tier-1",), capacity=6, email="Pat@Desk.example"), T0 + M)
    d.apply(team_profile("tier-2", members=("pat", "sam")), T0 + 2 * M)
    d.apply(agent_profile("pat", name="Pat Lee", teams=("tier-1",), capacity=8, email="Pat@Desk.example"), T0 + 3 * M)
    pat = d.agents["pat"]
    assert (pat.name, pat.capacity, pat.availability, pat.availability_at) == ("Pat Lee", 8, "online", T0)
    d.apply(availability("pat", Availability.AWAY, Availability.ONLINE), T0 + 4 * M)
    assert (d.agents["pat"].availability, d.agents["pat"].name) == ("away", "Pat Lee")
    assert teams_of(d.agents["pat"], d.teams.values()) == ["tier-1", "tier-2"]
    d.apply(team_profile("tier-2", members=("sam",)), T0 + 5 * M)
    assert teams_of(d.agents["pat"], d.teams.values()) == ["tier-1"]
    # "me": the caller's name as an agent id, an email in any case, or the token's subject.
    assert caller_agent("pat", d.agents) == d.agents["pat"]
    assert caller_agent("pat@desk.EXAMPLE", d.agents) == d.agents["pat"]
    assert caller_agent("nobody", d.agents) is None
