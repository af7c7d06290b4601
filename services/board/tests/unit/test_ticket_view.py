"""The board's fold: every interleaving of the five topics gives the same row; each part is
right on its own (status, clocks of the current cycle, escalation holder, counts)."""

from __future__ import annotations

import json
import typing
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from board.domain import ticket_view
from board.domain.ticket_view import TicketView
from board.domain.timeline import describe
from supportdesk_contract.catalogue import (
    ERASED_TEXT,
    AgentResponded,
    Channel,
    ClockKind,
    ClosureCode,
    CustomerReplied,
    Event,
    InfoRequested,
    NotificationSent,
    Priority,
    PriorityChanged,
    RequesterErased,
    SlaAtRisk,
    SlaBreached,
    SlaClockRetargeted,
    SlaClockSuspended,
    TicketClosed,
    TicketEscalated,
    TicketReopened,
)
from supportdesk_devstack.testing.events import GOLD, opened, started, triaged
from supportdesk_messaging.personal import mask_event, new_data_key, seal_event

T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)
M = timedelta(minutes=1)
Timed = tuple[Event, datetime]
# One ticket: an email from acme on the data-insights policy's gold plan, opened at T0.
OPENED = {"number": "TKT-7", "channel": Channel.EMAIL, "customer_id": "acme", "severity": 2, "opened_at": T0, **GOLD}
TRIAGED = {"severity": 3, "rule": "email-defaults-normal", "channel": Channel.EMAIL, "opened_at": T0, **GOLD}
STARTED = {"started_at": T0, "calendar": "pacific-business"}


def fold(events: Sequence[Timed]) -> TicketView:
    view = TicketView()
    for event, at in events:
        view.apply(event, at)
    return view


def interleavings(streams: list[list[Timed]]) -> Iterator[list[Timed]]:
    """Every merge of the streams that keeps each stream's own order."""
    if all(not s for s in streams):
        yield []
        return
    for i, s in enumerate(streams):
        if s:
            rest = [*streams[:i], s[1:], *streams[i + 1 :]]
            for tail in interleavings(rest):
                yield [s[0], *tail]


def test_every_interleaving_of_the_five_topics_gives_the_same_row() -> None:
    lifecycle = [
        (opened(**OPENED), T0),
        (AgentResponded(agent="bob", body="on it", confirms_receipt=True), T0 + 20 * M),
        (InfoRequested(agent="bob", question="which version?"), T0 + 30 * M),
    ]
    triage = [
        (triaged(priority=Priority.NORMAL, **TRIAGED), T0),
        (PriorityChanged(priority=Priority.HIGH, previous=Priority.NORMAL, by="bob", reason="exec"), T0 + 5 * M),
    ]
    sla = [
        (started(due_at=T0 + 60 * M, **STARTED), T0),
        (SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=75, due_at=T0 + 60 * M), T0 + 45 * M),
    ]
    escalation = [(TicketEscalated(level=1, route="tier_lead", reason="at risk", recipients=("lea",)), T0 + 46 * M)]
    notifications = [
        (
            NotificationSent(
                cause_event_id=uuid.uuid4(), recipient="lea", channel="email", template="escalated", sent_at=T0
            ),
            T0 + 47 * M,
        )
    ]
    rows: list[dict[str, Any]] = []
    seen = 0
    for order in interleavings([lifecycle, triage, sla, escalation, notifications]):
        seen += 1
        row = fold(order).row()
        if not rows or row != rows[0]:
            rows.append(row)
    assert seen == 15120  # 9! / (3! 2! 2! 1! 1!): every order, not a sample
    assert len(rows) == 1, rows[1:]
    row = rows[0]
    assert (row["number"], row["status"], row["priority"], row["queue"]) == (
        "TKT-7",
        "awaiting_customer",
        "high",
        "technical",
    )
    assert (row["severity"], row["plan"], row["customer_id"]) == (3, "gold", "acme")
    assert (row["next_due_at"], row["at_risk"], row["breached"]) == (T0 + 60 * M, True, False)
    assert (row["escalation_level"], row["escalation_holder"], row["notifications_sent"]) == (1, "lea", 1)
    assert (row["last_agent_activity_at"], row["updated_at"]) == (T0 + 30 * M, T0 + 47 * M)


def test_the_stored_state_drops_empty_fields_and_loads_back_the_same() -> None:
    """`stored()` leaves out None fields: lossless only while every field that may be None has None
    as its default (a field with another default would load back as that default)."""
    models = [
        m
        for m in vars(ticket_view).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == ticket_view.__name__
    ]
    assert TicketView in models
    for model in models:
        for name, info in model.model_fields.items():
            if type(None) in typing.get_args(info.annotation):
                assert info.default is None, f"{model.__name__}.{name}"
    order = [
        (opened(**OPENED), T0),
        (triaged(priority=Priority.NORMAL, **TRIAGED), T0),
        (started(due_at=T0 + 60 * M, **STARTED), T0),
    ]
    for view in (TicketView(), fold(order[:1]), fold(order)):
        stored = view.stored()
        assert "null" not in json.dumps(stored)
        assert json.loads(view.stored_json()) == stored
        assert TicketView.model_validate_json(json.dumps(stored)) == view


def test_a_changed_severity_on_the_ticket_wins_over_triage_whatever_the_order() -> None:
    from supportdesk_contract.catalogue import SeverityChanged

    changed = (SeverityChanged(severity=1, previous=2, by="bob", reason="outage"), T0 + M)
    a = fold([(opened(**OPENED), T0), changed, (triaged(**TRIAGED), T0)]).row()
    b = fold([(triaged(**TRIAGED), T0), (opened(**OPENED), T0), changed]).row()
    assert a["severity"] == b["severity"] == 1


def test_a_reopened_ticket_shows_only_the_new_cycles_clocks() -> None:
    view = fold(
        [
            (opened(**OPENED), T0),
            (triaged(**TRIAGED), T0),
            (started(due_at=T0 + 60 * M, **STARTED), T0),
            (SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=T0 + 60 * M), T0 + 60 * M),
            (TicketClosed(closure_code=ClosureCode.USAGE_INFORMATION_PROVIDED, by="bob"), T0 + 70 * M),
        ]
    )
    row = view.row()
    assert (row["status"], row["is_open"], row["breached"], row["next_due_at"]) == ("closed", False, True, None)
    assert row["closure_code"] == "usage_information_provided"
    view.apply(TicketReopened(by="ann", reason="still broken"), T0 + 80 * M)
    row = view.row()
    # Reopened, sla-clock has not spoken about cycle 2 yet: no stale clocks of cycle 1.
    assert (row["status"], row["cycle"], row["clocks"], row["breached"]) == ("new", 2, {}, False)
    view.apply(started(due_at=T0 + 200 * M, cycle=2, **STARTED), T0 + 80 * M)
    row = view.row()
    assert (row["next_due_at"], row["breached"], list(row["clocks"])) == (T0 + 200 * M, False, ["first_response"])
    assert row["clocks"]["first_response"]["policy_version"] == "data-insights@1"


def test_a_customer_reply_returns_an_awaiting_ticket_to_where_it_was() -> None:
    row = fold(
        [
            (opened(**OPENED), T0),
            (AgentResponded(agent="bob", body="hi", confirms_receipt=True), T0 + M),
            (InfoRequested(agent="bob", question="q"), T0 + 2 * M),
            (CustomerReplied(channel=Channel.EMAIL, body="a"), T0 + 3 * M),
        ]
    ).row()
    assert (row["status"], row["customer_replies"], row["agent_responses"]) == ("acknowledged", 1, 1)
    assert row["last_customer_activity_at"] == T0 + 3 * M


def test_the_timeline_says_who_and_why() -> None:
    override = describe(
        PriorityChanged(priority=Priority.HIGH, previous=Priority.NORMAL, by="bob", reason="VIP"), "triage"
    )
    assert (override.actor, override.summary) == ("bob", "priority normal -> high: VIP")
    assert "rule email-defaults-normal" in describe(triaged(**TRIAGED), "triage").summary
    assert "policy data-insights@1" in describe(started(due_at=T0, **STARTED), "sla-clock").summary


def test_a_retargeted_or_suspended_clock_shows_its_new_due_and_why() -> None:
    retargeted = SlaClockRetargeted(
        clock=ClockKind.FIRST_RESPONSE,
        from_version="data-insights@1",
        to_version="data-insights@2",
        previous_target_seconds=3600,
        target_seconds=1800,
        previous_due_at=T0 + 60 * M,
        due_at=T0 + 30 * M,
        by="lead",
        reason="new contract",
    )
    view = fold(
        [
            (opened(**OPENED), T0),
            (triaged(**TRIAGED), T0),
            (started(due_at=T0 + 60 * M, **STARTED), T0),
            (retargeted, T0 + 5 * M),
        ]
    )
    clock = view.row()["clocks"]["first_response"]
    assert (clock["due_at"], clock["target_seconds"], clock["policy_version"]) == (
        "2026-11-23T17:30:00Z",
        1800,
        "data-insights@2",
    )
    assert view.row()["next_due_at"] == T0 + 30 * M
    entry = describe(retargeted, "sla-clock")
    assert (entry.actor, entry.summary) == (
        "lead",
        f"first_response clock moved from data-insights@1 to data-insights@2, due {(T0 + 30 * M).isoformat()}:"
        " new contract",
    )
    suspended = SlaClockSuspended(
        clock=ClockKind.FIRST_RESPONSE, suspended_at=T0 + 6 * M, policy="data-insights", by="ops", reason="paused"
    )
    view.apply(suspended, T0 + 6 * M)
    assert view.row()["clocks"]["first_response"]["state"] == "paused"
    entry = describe(suspended, "sla-clock")
    assert (entry.actor, entry.summary) == (
        "ops",
        "first_response clock suspended: policy data-insights deactivated: paused",
    )


def test_an_erased_requester_folds_the_same_whether_the_board_saw_them_in_clear_or_not() -> None:
    """Live, the board folds the ticket in clear and then RequesterErased; a rebuild after the
    erasure folds the events masked (the key is gone) and then RequesterErased: one row."""
    mara = {"requester_email": "mara.quill@customer.example", "requester_phone": "+1 415 555 0199"}
    told = {"subject": "Invoice export broken", "description": "Biscuit the tabby walked across the keyboard"}
    clear = opened(number="TKT-9", channel=Channel.EMAIL, opened_at=T0, **mara, **told)
    sealed = seal_event(clear, "req-9", new_data_key())
    erased = RequesterErased(requester_id="req-9", erased_at=T0 + 5 * M)
    reply = CustomerReplied(channel=Channel.EMAIL, body="my landlord unplugged it")
    live, replayed = TicketView(), TicketView()
    for e, at in [(clear.model_copy(update={"requester_id": "req-9"}), T0), (reply, T0 + M), (erased, T0 + 5 * M)]:
        live.apply(e, at)
    for e, at in [(mask_event(sealed), T0), (mask_event(reply), T0 + M), (erased, T0 + 5 * M)]:
        replayed.apply(e, at)
    assert live.row() == replayed.row()
    row = live.row()
    assert (row["requester_email"], row["requester_phone"]) == (None, None)
    assert (row["subject"], row["description_excerpt"]) == (ERASED_TEXT, ERASED_TEXT)
    assert (row["number"], row["customer_replies"], row["opened_at"]) == ("TKT-9", 1, T0)
    assert describe(mask_event(sealed), "intake").actor == "unknown requester"
    assert "Invoice" not in describe(mask_event(sealed), "intake").summary
