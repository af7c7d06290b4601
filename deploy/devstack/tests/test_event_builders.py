"""The event builders every package's tests feed services with (supportdesk_devstack.testing.events)."""

from datetime import UTC, datetime, timedelta

import pytest

from supportdesk_contract.catalogue import PEOPLE_KEY, AssignmentReason, Availability, ClockKind, Priority
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import decode, encode
from supportdesk_devstack.testing.events import (
    AT,
    TICKET,
    agent_profile,
    assigned,
    availability,
    envelope,
    golden,
    opened,
    people_envelope,
    started,
    team_profile,
    triaged,
    unassigned,
)

T0 = datetime(2026, 11, 30, 9, tzinfo=UTC)


def test_an_opened_ticket_takes_the_golden_samples_required_fields_and_nothing_personal() -> None:
    sample = golden("TicketOpened")["payload"]
    event = opened()
    assert (event.number, event.channel.value, event.subject) == (sample["number"], "web", sample["subject"])
    assert event.opened_at == AT
    assert (event.requester_email, event.customer_id, event.severity, event.requester_token_sealed) == (
        None,
        None,
        None,
        None,
    )


def test_a_triage_verdict_is_the_ordinary_case_unless_told() -> None:
    event = triaged()
    assert (event.priority, event.severity, event.sla_exempt, event.swat) == (Priority.NORMAL, None, False, False)
    assert triaged(priority=Priority.URGENT, swat=True).swat


def test_instants_come_from_the_given_clock() -> None:
    clock = ManualClock(T0)
    assert opened(clock=clock).opened_at == T0
    assert triaged(clock=clock).opened_at == T0
    assert started(clock=clock).started_at == T0
    assert envelope(opened(), "t-1", clock=clock).occurred_at == T0


def test_a_started_clock_is_due_when_its_target_runs_out_unless_told() -> None:
    assert started(started_at=T0, target_seconds=1800).due_at == T0 + timedelta(minutes=30)
    assert started(started_at=T0, due_at=T0).due_at == T0
    assert started(target_seconds=None).due_at is None
    assert started(kind=ClockKind.RESOLUTION).clock is ClockKind.RESOLUTION


def test_a_field_the_event_does_not_have_is_refused() -> None:
    # Events ignore unknown fields; a misspelt override would otherwise change nothing, silently.
    with pytest.raises(TypeError, match="sla_exmpt"):
        triaged(sla_exmpt=True)


def test_an_envelope_round_trips_and_defaults_to_the_samples_ticket() -> None:
    env = envelope(triaged(), producer="triage")
    assert env.ticket_id == TICKET and env.producer == "triage"
    assert decode(encode(env)[1]) == env


def test_people_and_assignment_events_are_the_ordinary_case_unless_told() -> None:
    pat = agent_profile("pat", teams=("tier-1",))
    assert (pat.name, pat.email, pat.teams, pat.capacity, pat.active) == (
        "Pat",
        "pat@desk.example",
        ("tier-1",),
        8,
        True,
    )
    assert availability("pat", Availability.AWAY, Availability.ONLINE).previous is Availability.ONLINE
    assert team_profile("tier-1", members=("pat",)).members == ("pat",)
    given = assigned("pat", "tier-1")
    assert (given.agent, given.team, given.third_party, given.reason) == ("pat", "tier-1", None, AssignmentReason.RULE)
    assert assigned(None, "tier-1").agent is None  # the team's pool
    back = unassigned("pat", "tier-1", reason=AssignmentReason.AWAY)
    assert (back.agent, back.team, back.reason) == ("pat", "tier-1", AssignmentReason.AWAY)
    # People events are about no ticket: keyed by PEOPLE_KEY.
    assert people_envelope(pat, clock=ManualClock(T0)).ticket_id == PEOPLE_KEY
