"""Who holds a ticket and the events each change makes: pure, no database."""

from datetime import UTC, datetime

from assignment.service_layer.holders import (
    BY,
    Holder,
    closed,
    give,
    hand_back,
    reopened,
    to_pool,
    to_third_party,
)
from supportdesk_contract.catalogue import AssignmentReason, TicketAssigned, TicketUnassigned

NOW = datetime(2026, 12, 7, 9, tzinfo=UTC)
R = AssignmentReason


def test_a_ticket_entering_a_pool_is_assigned_to_the_team_only() -> None:
    change = to_pool(Holder(), "berlin", BY, R.RULE, "queue first-level is served by team berlin", NOW)
    assert change.after == Holder(team="berlin", version=1)
    assert change.events == (
        TicketAssigned(team="berlin", by=BY, reason=R.RULE, explanation="queue first-level is served by team berlin"),
    )
    assert change.waiting_since == NOW
    # Already there: nothing to say.
    assert to_pool(change.after, "berlin", BY, R.RULE, "again", NOW).events == ()


def test_moving_to_another_teams_pool_first_tells_the_holder_they_no_longer_hold_it() -> None:
    held = Holder(team="berlin", agent="anna", manual=True, version=4)
    change = to_pool(held, "la", BY, R.QUEUE_CHANGED, "queue technical is served by team la", NOW)
    assert [type(e) for e in change.events] == [TicketUnassigned, TicketAssigned]
    unassigned, assigned = change.events
    assert isinstance(unassigned, TicketUnassigned) and isinstance(assigned, TicketAssigned)
    assert (unassigned.agent, unassigned.team, unassigned.reason) == ("anna", "berlin", R.QUEUE_CHANGED)
    assert (assigned.team, assigned.agent, assigned.previous_agent, assigned.previous_team) == (
        "la",
        None,
        "anna",
        "berlin",
    )
    assert change.after == Holder(team="la", version=6)  # one version per event; no longer manual


def test_giving_names_the_previous_holder_and_marks_a_persons_choice_manual() -> None:
    pool = Holder(team="berlin", version=1)
    by_rule = give(pool, "anna", "berlin", BY, R.RULE, "least loaded of 2 on shift: anna 0/8, jonas 1/6")
    assert by_rule.after == Holder(team="berlin", agent="anna", version=2)
    claimed = give(by_rule.after, "jonas", "berlin", "jonas", R.CLAIMED, "jonas took it")
    assert claimed.after.manual and claimed.after.agent == "jonas"
    (event,) = claimed.events
    assert isinstance(event, TicketAssigned)
    assert (event.previous_agent, event.by, event.reason, event.explanation) == (
        "anna",
        "jonas",
        R.CLAIMED,
        "jonas took it",
    )
    assert give(claimed.after, "jonas", "berlin", "x", R.MANUAL, "again").events == ()


def test_a_hand_back_leaves_the_ticket_waiting_in_its_teams_pool() -> None:
    held = Holder(team="berlin", agent="anna", manual=True, version=2)
    change = hand_back(held, BY, R.AWAY, "anna has been away for 15 minutes", NOW)
    assert change.after == Holder(team="berlin", version=3)
    assert change.waiting_since == NOW
    (event,) = change.events
    assert isinstance(event, TicketUnassigned) and (event.agent, event.reason) == ("anna", R.AWAY)
    assert hand_back(change.after, BY, R.AWAY, "nobody holds it", NOW).events == ()


def test_a_third_party_takes_it_out_of_the_pool_until_someone_assigns_it_again() -> None:
    held = Holder(team="la", agent="maria", version=2)
    change = to_third_party(held, "Acme Storage", "maria", "handed to Acme Storage by maria")
    (event,) = change.events
    assert isinstance(event, TicketAssigned)
    assert (event.third_party, event.agent, event.previous_agent, event.reason) == (
        "Acme Storage",
        None,
        "maria",
        R.THIRD_PARTY,
    )
    assert change.after == Holder(team="la", third_party="Acme Storage", version=3)
    back = to_pool(change.after, "la", "maria", R.MANUAL, "back from the vendor", NOW)
    assert back.after == Holder(team="la", version=4) and len(back.events) == 1


def test_closing_unassigns_and_reopening_returns_to_the_holder_only_if_on_shift() -> None:
    held = Holder(team="berlin", agent="anna", version=2)
    shut = closed(held)
    (event,) = shut.events
    assert isinstance(event, TicketUnassigned) and (event.agent, event.reason) == ("anna", R.CLOSED)
    assert shut.after == Holder(team="berlin", agent="anna", is_open=False, version=3)
    assert closed(shut.after).events == ()

    again = reopened(shut.after, True, R.OFF_SHIFT, NOW)
    (back,) = again.events
    assert isinstance(back, TicketAssigned) and back.agent == "anna" and again.after.is_open

    pool = reopened(shut.after, False, R.OFF_SHIFT, NOW)
    (to_team,) = pool.events
    assert isinstance(to_team, TicketAssigned)
    assert (to_team.agent, to_team.team, to_team.previous_agent, to_team.reason) == (
        None,
        "berlin",
        "anna",
        R.OFF_SHIFT,
    )
    assert pool.after == Holder(team="berlin", version=4) and pool.waiting_since == NOW
