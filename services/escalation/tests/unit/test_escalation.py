"""The escalation aggregate's rules, without a database: levels, holding until the ticket is known,
SWAT, acknowledgement, climbing, closing and reopening."""

from datetime import UTC, datetime, timedelta

import pytest

from escalation.domain.escalation import Escalation, NothingToAcknowledge
from escalation.domain.levels import ACCOUNT_MANAGER, EXECUTIVE, TIER_LEAD, Directory
from supportdesk_contract.catalogue import EscalationAcknowledged, EscalationResolved, SwatEngaged, TicketEscalated

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
D = Directory(
    tier_leads={"technical": ["lead@vendor.example"]},
    account_managers={"acme": ["am@vendor.example"]},
    executives=["exec@vendor.example"],
    swat=["swat@vendor.example"],
    on_call=["oncall@vendor.example"],
    climb_after={TIER_LEAD: timedelta(minutes=30), ACCOUNT_MANAGER: timedelta(minutes=60)},
)


def known(priority: str = "normal", severity: int | None = 3, swat: bool = False) -> Escalation:
    esc = Escalation("t-1")
    esc.opened(customer_id="acme", emergency=False, severity=severity, now=T0, d=D)
    esc.triaged(priority=priority, severity=severity, queue="technical", swat=swat, now=T0, d=D)
    esc.collect_events()  # what being known decided (severity 1) is tested on its own below
    return esc


def test_at_risk_reaches_the_tier_lead_of_the_queue() -> None:
    esc = known()
    esc.at_risk(clock="first_response", signalled_at=T0, now=T0, d=D)
    [decided] = esc.collect_events()
    assert isinstance(decided.payload, TicketEscalated)
    assert (decided.payload.level, decided.payload.route) == (TIER_LEAD, "tier_lead")
    assert decided.payload.recipients == ("lead@vendor.example",)
    assert decided.discriminator == "1/level/1"
    assert esc.next_climb(D) == T0 + timedelta(minutes=30)


def test_levels_never_go_backward_and_one_level_is_decided_once() -> None:
    esc = known()
    esc.breached(clock="first_response", signalled_at=T0, now=T0, d=D)
    esc.at_risk(clock="resolution", signalled_at=T0, now=T0, d=D)
    esc.breached(clock="resolution", signalled_at=T0, now=T0, d=D)
    [decided] = esc.collect_events()
    assert isinstance(decided.payload, TicketEscalated)
    assert decided.payload.level == ACCOUNT_MANAGER
    assert decided.payload.recipients == ("am@vendor.example",)
    assert esc.level == ACCOUNT_MANAGER


def test_a_trigger_before_the_ticket_is_known_is_held_then_released() -> None:
    esc = Escalation("t-1")
    esc.at_risk(clock="first_response", signalled_at=T0, now=T0, d=D)
    esc.breached(clock="first_response", signalled_at=T0, now=T0, d=D)
    assert esc.collect_events() == []
    assert esc.pending_level == ACCOUNT_MANAGER
    esc.triaged(priority="normal", severity=3, queue="technical", swat=False, now=T0, d=D)
    assert esc.collect_events() == []  # the customer is not known yet either
    esc.opened(customer_id="acme", emergency=False, severity=3, now=T0, d=D)
    [decided] = esc.collect_events()
    assert isinstance(decided.payload, TicketEscalated)
    assert decided.payload.level == ACCOUNT_MANAGER
    assert decided.payload.reason == "SlaBreached on first_response"
    assert esc.pending_level is None


def test_a_breach_of_a_high_priority_severity_two_case_engages_swat_once() -> None:
    esc = known(priority="high", severity=2, swat=True)
    esc.breached(clock="resolution", signalled_at=T0, now=T0, d=D)
    esc.breached(clock="first_response", signalled_at=T0, now=T0, d=D)
    kinds = [type(d.payload) for d in esc.collect_events()]
    assert kinds == [TicketEscalated, SwatEngaged]


def test_a_breach_that_came_before_triage_engages_swat_when_triage_arrives() -> None:
    esc = Escalation("t-1")
    esc.opened(customer_id="acme", emergency=False, severity=2, now=T0, d=D)
    esc.breached(clock="first_response", signalled_at=T0, now=T0, d=D)
    assert esc.collect_events() == []
    esc.triaged(priority="urgent", severity=2, queue="technical", swat=True, now=T0, d=D)
    kinds = [type(d.payload) for d in esc.collect_events()]
    assert kinds == [TicketEscalated, SwatEngaged]


def test_severity_one_goes_to_the_tier_lead_and_swat_at_once() -> None:
    esc = Escalation("t-1")
    esc.opened(customer_id="acme", emergency=True, severity=1, now=T0, d=D)
    swat_first = esc.collect_events()
    assert [type(d.payload) for d in swat_first] == [SwatEngaged]  # SWAT needs no queue; the lead does
    esc.triaged(priority="urgent", severity=1, queue="technical", swat=True, now=T0, d=D)
    [escalated] = esc.collect_events()
    assert isinstance(escalated.payload, TicketEscalated)
    assert escalated.payload.level == TIER_LEAD
    assert escalated.payload.recipients == ("lead@vendor.example", "oncall@vendor.example")  # emergency contact


def test_acknowledgement_stops_the_climb_and_needs_an_escalation() -> None:
    esc = known()
    with pytest.raises(NothingToAcknowledge):
        esc.acknowledge("ann")
    esc.requested(reason="customer asked", now=T0, d=D)
    esc.collect_events()
    esc.acknowledge("ann")
    [ack] = esc.collect_events()
    assert ack.payload == EscalationAcknowledged(level=ACCOUNT_MANAGER, by="ann")
    assert esc.next_climb(D) is None


def test_an_unacknowledged_escalation_climbs_to_the_executive_and_stops_there() -> None:
    esc = known()
    esc.at_risk(clock="first_response", signalled_at=T0, now=T0, d=D)
    later = T0 + timedelta(minutes=31)
    esc.climb(later, D)
    esc.climb(later + timedelta(minutes=61), D)
    levels = [d.payload.level for d in esc.collect_events() if isinstance(d.payload, TicketEscalated)]
    assert levels == [TIER_LEAD, ACCOUNT_MANAGER, EXECUTIVE]
    assert esc.next_climb(D) is None


def test_closing_resolves_and_reopening_starts_a_new_cycle() -> None:
    esc = known()
    esc.closed("customer_confirmed")
    assert esc.collect_events() == []  # nothing was escalated: nothing to resolve aloud
    esc.reopened()
    esc.breached(clock="resolution", signalled_at=T0, now=T0, d=D)
    esc.closed("workaround_accepted")
    esc.closed("workaround_accepted")
    decided = esc.collect_events()
    assert [d.discriminator for d in decided] == ["2/level/2", "2/resolved"]
    assert isinstance(decided[1].payload, EscalationResolved)
    esc.at_risk(clock="resolution", signalled_at=T0, now=T0, d=D)
    assert esc.collect_events() == []  # resolved: no escalation until reopened


def test_snapshot_tells_an_unchanged_escalation_from_a_changed_one() -> None:
    esc = known()
    before = esc.snapshot()
    esc.at_risk(clock="first_response", signalled_at=T0, now=T0, d=D)
    assert esc != before
    again = esc.snapshot()
    esc.closed("customer_confirmed")
    esc.collect_events()
    assert esc != again


# --- claims from strangers (docs/operations/security.md#claims-from-strangers) -----------------


def stranger(severity: int | None = 1, emergency: bool = False, swat: bool = True, first: str = "opened") -> Escalation:
    """A ticket whose requester intake could not prove (the web form, unauthenticated mail)."""
    esc = Escalation("t-2")
    priority = "urgent" if severity == 1 else "high"

    def opened() -> None:
        esc.opened(customer_id="acme", emergency=emergency, severity=severity, now=T0, d=D, requester_verified=False)

    def triaged() -> None:
        esc.triaged(priority=priority, severity=severity, queue="technical", swat=swat, now=T0, d=D)

    for step in (opened, triaged) if first == "opened" else (triaged, opened):
        step()
    return esc


@pytest.mark.parametrize("first", ["opened", "triaged"])
def test_a_strangers_severity_one_reaches_the_tier_lead_but_not_swat(first: str) -> None:
    esc = stranger(first=first)
    decided = [d.payload for d in esc.collect_events()]
    assert not any(isinstance(p, SwatEngaged) for p in decided)
    [escalated] = [p for p in decided if isinstance(p, TicketEscalated)]
    assert escalated.level == TIER_LEAD and escalated.recipients == ("lead@vendor.example",)
    assert "unverified" in escalated.reason
    assert esc.next_climb(D) is None  # nobody above the tier lead is paged by a stranger's claim


def test_an_agent_setting_the_severity_confirms_the_claim_and_engages_swat() -> None:
    esc = stranger()
    esc.collect_events()
    esc.severity_confirmed(severity=1, now=T0, d=D)
    [swat] = [d.payload for d in esc.collect_events()]
    assert isinstance(swat, SwatEngaged) and swat.members == ("swat@vendor.example",)
    assert esc.next_climb(D) == T0 + timedelta(minutes=30)  # a confirmed case climbs as any other


def test_an_agent_lowering_the_severity_engages_nobody() -> None:
    esc = stranger()
    esc.collect_events()
    esc.severity_confirmed(severity=3, now=T0, d=D)
    assert esc.collect_events() == []


def test_a_strangers_emergency_contact_claim_does_not_page_on_call() -> None:
    esc = stranger(severity=2, emergency=True)
    esc.breached(clock="first_response", signalled_at=T0, now=T0, d=D)
    decided = [d.payload for d in esc.collect_events()]
    [escalated] = [p for p in decided if isinstance(p, TicketEscalated)]
    assert "oncall@vendor.example" not in escalated.recipients
    assert not any(isinstance(p, SwatEngaged) for p in decided)  # a breach of a stranger's severity 2


@pytest.mark.parametrize("first", ["breach", "opened"])
def test_a_proven_emergency_contact_still_pages_on_call_and_swat_whatever_the_order(first: str) -> None:
    esc = Escalation("t-3")
    esc.triaged(priority="high", severity=2, queue="technical", swat=True, now=T0, d=D)
    steps = [
        lambda: esc.breached(clock="first_response", signalled_at=T0, now=T0, d=D),
        lambda: esc.opened(customer_id="acme", emergency=True, severity=2, now=T0, d=D, requester_verified=True),
    ]
    for step in steps if first == "breach" else reversed(steps):
        step()
    decided = [d.payload for d in esc.collect_events()]
    [escalated] = [p for p in decided if isinstance(p, TicketEscalated)]
    assert "oncall@vendor.example" in escalated.recipients
    assert any(isinstance(p, SwatEngaged) for p in decided)


def test_a_strangers_request_to_escalate_goes_to_the_tier_lead_and_stops_there() -> None:
    esc = stranger(severity=3, swat=False)
    esc.collect_events()
    esc.requested(reason="please hurry", now=T0, d=D)
    [escalated] = [d.payload for d in esc.collect_events()]
    assert isinstance(escalated, TicketEscalated) and escalated.level == TIER_LEAD
    assert esc.next_climb(D) is None


def test_severity_one_from_triage_before_the_ticket_opened_engages_swat_when_it_opens() -> None:
    esc = Escalation("t-4")
    esc.triaged(priority="urgent", severity=1, queue="technical", swat=True, now=T0, d=D)
    assert esc.collect_events() == []  # whether the requester is proven is not known yet
    esc.opened(customer_id="acme", emergency=False, severity=None, now=T0, d=D)
    decided = [d.payload for d in esc.collect_events()]
    assert any(isinstance(p, SwatEngaged) for p in decided)
    assert [p.level for p in decided if isinstance(p, TicketEscalated)] == [TIER_LEAD]


def test_a_breach_before_the_agents_confirmation_engages_swat_when_it_comes() -> None:
    # The breach (tickets.sla) may be read before the agent's SeverityChanged (tickets.lifecycle).
    esc = stranger(severity=2)
    esc.collect_events()
    esc.breached(clock="first_response", signalled_at=T0, now=T0, d=D)
    assert not any(isinstance(d.payload, SwatEngaged) for d in esc.collect_events())
    esc.severity_confirmed(severity=2, now=T0, d=D)
    assert [type(d.payload) for d in esc.collect_events()] == [SwatEngaged]


# --- the requester proves who they are (RequesterVerified) -------------------------------------


def test_the_requester_following_the_link_engages_swat_for_their_severity_one() -> None:
    esc = stranger()
    esc.collect_events()
    esc.requester_verified(now=T0, d=D)
    [swat] = [d.payload for d in esc.collect_events()]
    assert isinstance(swat, SwatEngaged) and swat.members == ("swat@vendor.example",)
    assert esc.next_climb(D) == T0 + timedelta(minutes=30)  # no longer held at the tier lead


def test_a_breach_before_the_requester_proves_who_they_are_engages_swat_then() -> None:
    esc = stranger(severity=2)
    esc.collect_events()
    esc.breached(clock="first_response", signalled_at=T0, now=T0, d=D)
    assert not any(isinstance(d.payload, SwatEngaged) for d in esc.collect_events())
    esc.requester_verified(now=T0, d=D)
    assert [type(d.payload) for d in esc.collect_events()] == [SwatEngaged]


def test_a_proven_emergency_contact_brings_on_call_into_the_escalation_they_were_left_out_of() -> None:
    esc = stranger(severity=3, emergency=True, swat=False)
    esc.collect_events()
    esc.breached(clock="first_response", signalled_at=T0, now=T0, d=D)
    [first] = [d.payload for d in esc.collect_events()]
    assert isinstance(first, TicketEscalated) and "oncall@vendor.example" not in first.recipients
    esc.requester_verified(now=T0, d=D)
    decided = esc.collect_events()
    [joined] = [d.payload for d in decided]
    assert isinstance(joined, TicketEscalated) and joined.recipients == ("oncall@vendor.example",)
    assert joined.level == first.level and decided[0].discriminator == f"1/level/{first.level}/on-call"
    esc.requester_verified(now=T0, d=D)  # again (a redelivery): nothing more
    assert esc.collect_events() == []


def test_the_link_followed_before_triage_engages_swat_when_triage_says_severity_one() -> None:
    esc = Escalation("t-5")
    esc.opened(customer_id="acme", emergency=False, severity=1, now=T0, d=D, requester_verified=False)
    esc.requester_verified(now=T0, d=D)
    assert esc.collect_events() == []  # the queue is not known yet: nobody to page
    esc.triaged(priority="urgent", severity=1, queue="technical", swat=True, now=T0, d=D)
    decided = [d.payload for d in esc.collect_events()]
    assert any(isinstance(p, SwatEngaged) for p in decided)
    assert [p.level for p in decided if isinstance(p, TicketEscalated)] == [TIER_LEAD]


def test_a_proven_requesters_link_changes_nothing() -> None:
    esc = known(priority="urgent", severity=1, swat=True)
    esc.requester_verified(now=T0, d=D)
    assert esc.collect_events() == []
