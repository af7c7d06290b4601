"""The ticket aggregate's rules, without any I/O."""

from datetime import UTC, datetime, timedelta

import pytest

from intake.domain.ticket import (
    OpenTicket,
    Ticket,
    TicketStatus,
    TransitionRefused,
    VerificationExpired,
    offers_verification,
)
from supportdesk_contract.catalogue import AutoCloseDue, Channel, ClockKind, ClosureCode

NOW = datetime(2026, 11, 23, 17, tzinfo=UTC)


def new_ticket() -> Ticket:
    t = Ticket.open("t1", "TKT-1", OpenTicket(Channel.WEB, "s", "d", requester_email="a@b.c"), NOW)
    t.pending.clear()
    return t


def types(t: Ticket) -> list[str]:
    return [e.event_type for e in t.pending]


def test_the_phases_of_seed_000_in_order() -> None:
    t = new_ticket()
    t.respond("ann", "Got it")
    assert (t.status, types(t)) == (TicketStatus.ACKNOWLEDGED, ["AgentResponded"])
    assert t.pending[0].confirms_receipt  # type: ignore[attr-defined]
    t.respond("ann", "still looking")
    assert not t.pending[1].confirms_receipt  # type: ignore[attr-defined]
    t.request_info("ann", "which browser?")
    assert t.status is TicketStatus.AWAITING_CUSTOMER
    t.customer_reply("Firefox", Channel.EMAIL)
    assert t.status is TicketStatus.ACKNOWLEDGED
    t.mark_replicated("ann")
    t.deliver_workaround("ann", "clear the cache")
    assert t.status is TicketStatus.MONITOR
    t.confirm_resolution("customer")
    assert t.status is TicketStatus.CLOSED
    assert types(t)[-2:] == ["ResolutionConfirmed", "TicketClosed"]
    assert t.version == 1 + len(t.pending)


def test_asking_the_customer_first_is_the_initial_response() -> None:
    t = new_ticket()
    t.request_info("ann", "which version?")
    assert types(t) == ["AgentResponded", "InfoRequested"]
    assert t.status is TicketStatus.AWAITING_CUSTOMER and t.resume_to is TicketStatus.ACKNOWLEDGED


@pytest.mark.parametrize(
    ("setup", "command"),
    [
        ([], lambda t: t.confirm_resolution("c")),
        ([], lambda t: t.reopen("c", "r")),
        ([lambda t: t.close("a", ClosureCode.NOT_A_PRODUCT_DEFECT)], lambda t: t.respond("a", "b")),
        ([lambda t: t.mark_replicated("a")], lambda t: t.mark_replicated("a")),
        ([lambda t: t.request_info("a", "q")], lambda t: t.request_info("a", "q")),
        ([], lambda t: t.change_severity("a", None, "r")),
    ],
)
def test_impossible_transitions_are_refused_with_the_current_state(setup: list, command) -> None:  # type: ignore[no-untyped-def,type-arg]
    t = new_ticket()
    for step in setup:
        step(t)
    before = (t.status, t.version, len(t.pending))
    with pytest.raises(TransitionRefused) as e:
        command(t)
    assert (e.value.status, e.value.version) == before[:2]
    assert len(t.pending) == before[2]  # nothing decided


def test_a_reply_to_a_closed_ticket_reopens_it_as_a_new_cycle() -> None:
    t = new_ticket()
    t.close("a", ClosureCode.USAGE_INFORMATION_PROVIDED)
    t.customer_reply("it broke again", Channel.EMAIL)
    assert types(t)[-2:] == ["TicketReopened", "CustomerReplied"]
    assert (t.status, t.cycle, t.receipt_confirmed) == (TicketStatus.NEW, 2, False)


def test_auto_close_applies_only_to_the_state_and_cycle_its_timer_watched() -> None:
    t = new_ticket()
    t.respond("a", "b")
    t.deliver_workaround("a", "w")
    monitor = AutoCloseDue(
        clock=ClockKind.MONITOR_AUTO_CLOSE, cycle=1, closure_code=ClosureCode.CONFIRMATION_WINDOW_EXPIRED
    )
    waiting = AutoCloseDue(
        clock=ClockKind.AWAITING_CUSTOMER_AUTO_CLOSE, cycle=1, closure_code=ClosureCode.NO_CUSTOMER_RESPONSE
    )
    assert not t.auto_close(waiting)
    assert not t.auto_close(
        AutoCloseDue(clock=ClockKind.MONITOR_AUTO_CLOSE, cycle=2, closure_code=ClosureCode.CONFIRMATION_WINDOW_EXPIRED)
    )
    assert t.auto_close(monitor)
    assert t.status is TicketStatus.CLOSED
    assert t.pending[-1].closure_code is ClosureCode.CONFIRMATION_WINDOW_EXPIRED  # type: ignore[attr-defined]


def test_history_rebuilds_the_same_ticket() -> None:
    t = new_ticket()
    t.respond("a", "b")
    t.request_info("a", "q")
    t.customer_reply("r", Channel.WEB)
    t.mark_replicated("a")
    opened = Ticket.open("t1", "TKT-1", OpenTicket(Channel.WEB, "s", "d"), NOW).pending
    again = Ticket.from_history("t1", [*opened, *t.pending])
    assert (again.status, again.version, again.receipt_confirmed) == (t.status, t.version, True)


@pytest.mark.parametrize("verified", [False, True])
def test_an_agent_confirms_a_strangers_claimed_severity_by_setting_it_to_the_same(verified: bool) -> None:
    opened = OpenTicket(Channel.WEB, "s", "d", requester_email="a@b.c", severity=1, requester_verified=verified)
    t = Ticket.open("t2", "TKT-2", opened, NOW)
    t.pending.clear()
    if verified:  # the desk's own severity already: nothing to confirm
        with pytest.raises(TransitionRefused):
            t.change_severity("lee", 1, "confirmed on the phone")
        return
    t.change_severity("lee", 1, "confirmed on the phone")
    assert types(t) == ["SeverityChanged"]
    with pytest.raises(TransitionRefused):  # once confirmed, the same value again is no change
        t.change_severity("lee", 1, "again")


# --- the requester proves who they are (docs/operations/security.md#claims-from-strangers) -----


@pytest.mark.parametrize(
    ("claims", "offered"),
    [
        ({"severity": 1}, True),
        ({"severity": 2}, True),
        ({"emergency_contact": True}, True),
        ({"severity": 3}, False),  # nobody is paged for it: no link to follow
        ({}, False),
        ({"severity": 1, "requester_verified": True}, False),  # proven already
        ({"severity": 1, "requester_email": None, "requester_phone": "+15550100"}, False),  # nowhere to mail it
    ],
)
def test_a_link_is_offered_to_unproven_requesters_whose_claims_could_page(claims: dict, offered: bool) -> None:
    request = OpenTicket(Channel.WEB, "s", "d", **{"requester_email": "a@b.c", **claims})
    assert offers_verification(request) is offered


def stranger_ticket() -> Ticket:
    t = Ticket.open("t3", "TKT-3", OpenTicket(Channel.WEB, "s", "d", requester_email="a@b.c", severity=1), NOW)
    t.pending.clear()
    return t


def test_the_requester_proves_who_they_are_once_within_the_links_time() -> None:
    t = stranger_ticket()
    assert not t.requester_verified and not t.severity_confirmed
    t.verify_requester(NOW + timedelta(hours=71), timedelta(hours=72))
    assert types(t) == ["RequesterVerified"] and t.requester_verified and t.severity_confirmed
    with pytest.raises(TransitionRefused):  # the link used again
        t.verify_requester(NOW + timedelta(hours=71), timedelta(hours=72))
    # Folded from its history, the ticket knows it too: severity 1 is the desk's own now.
    opened = Ticket.open("t3", "TKT-3", OpenTicket(Channel.WEB, "s", "d", severity=1), NOW).pending
    again = Ticket.from_history("t3", [*opened, *t.pending])
    assert again.requester_verified and again.severity_confirmed
    with pytest.raises(TransitionRefused):
        again.change_severity("lee", 1, "nothing left to confirm")


def test_an_expired_link_proves_nothing() -> None:
    t = stranger_ticket()
    with pytest.raises(VerificationExpired):
        t.verify_requester(NOW + timedelta(hours=72, seconds=1), timedelta(hours=72))
    assert t.pending == [] and not t.requester_verified


def test_a_proven_requester_has_nothing_to_prove() -> None:
    opened = OpenTicket(Channel.EMAIL, "s", "d", requester_email="a@b.c", severity=1, requester_verified=True)
    t = Ticket.open("t4", "TKT-4", opened, NOW)
    t.pending.clear()
    with pytest.raises(TransitionRefused):
        t.verify_requester(NOW, timedelta(hours=72))
