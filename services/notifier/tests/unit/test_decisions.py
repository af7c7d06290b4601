"""Who hears about what, and quiet hours, without I/O."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from notifier.domain.deliveries import Contact, Routing, TicketInfo, decide
from notifier.domain.quiet_hours import StaffHours
from supportdesk_contract.catalogue import AgentResponded, ClockKind, SlaAtRisk, SlaBreached, TicketEscalated
from supportdesk_devstack.testing.events import started

LA = ZoneInfo("America/Los_Angeles")
T = datetime(2026, 11, 23, 17, tzinfo=UTC)
TICKET = TicketInfo("TKT-1", "s", "dana@acme.example", "acme", "technical", "normal", False)
ROUTING = Routing(
    queues={"technical": Contact(email="tech@desk.example")},
    customer_webhooks={"acme": Contact(webhook_url="https://acme.example/hook", webhook_secrets=("whsec_aGVsbG8=",))},
    after_hours_notice_policies=frozenset({"civicplus"}),
)


def test_customers_hear_responses_by_mail_and_their_webhook_and_staff_hear_sla_signals() -> None:
    replies = decide(AgentResponded(agent="a", body="b", confirms_receipt=True), TICKET, ROUTING)
    assert [(d.recipient, d.channel, d.template, d.to_staff) for d in replies] == [
        ("dana@acme.example", "email", "receipt_confirmed", False),
        ("https://acme.example/hook", "webhook", "receipt_confirmed", False),
    ]
    assert decide(AgentResponded(agent="a", body="internal note", public=False), TICKET, ROUTING) == []
    risk = decide(SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=75, due_at=T), TICKET, ROUTING)
    assert [(d.recipient, d.urgent, d.to_staff) for d in risk] == [("tech@desk.example", False, True)]
    assert decide(SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=T), TICKET, ROUTING)[0].urgent
    escalated = decide(
        TicketEscalated(level=2, route="account_manager", reason="r", recipients=("am@desk.example",)), TICKET, ROUTING
    )
    assert [d.recipient for d in escalated] == ["am@desk.example"]


def test_the_after_hours_notice_goes_to_non_emergency_requests_of_the_policies_that_bill() -> None:
    untimed = {"started_at": T, "due_at": None, "target_seconds": None, "calendar": "c"}
    assert [
        d.template
        for d in decide(started(policy_version="civicplus@1", opened_in_hours=False, **untimed), TICKET, ROUTING)
    ] == [
        "after_hours_notice",
        "after_hours_notice",
    ]
    assert decide(started(policy_version="civicplus@1", opened_in_hours=True, **untimed), TICKET, ROUTING) == []
    assert decide(started(policy_version="data-insights@1", opened_in_hours=False, **untimed), TICKET, ROUTING) == []
    emergency = TicketInfo("TKT-2", "s", "clerk@town.example", None, "technical", "urgent", True)
    assert decide(started(policy_version="civicplus@1", opened_in_hours=False, **untimed), emergency, ROUTING) == []


def test_quiet_hours_wait_for_the_next_working_morning_on_the_staffs_wall_clock() -> None:
    hours = StaffHours("America/Los_Angeles", frozenset(range(5)), time(8), time(18))
    monday_noon = datetime(2026, 11, 23, 12, tzinfo=LA)
    assert hours.next_open(monday_noon) == monday_noon
    friday_evening = datetime(2026, 11, 20, 19, tzinfo=LA)
    assert hours.next_open(friday_evening) == datetime(2026, 11, 23, 8, tzinfo=LA)
    sunday_before_dst_ends = datetime(2026, 10, 31, 23, tzinfo=LA)  # clocks go back that night
    assert hours.next_open(sunday_before_dst_ends) == datetime(2026, 11, 2, 8, tzinfo=LA)
    assert hours.next_open(datetime(2026, 11, 23, 7, 59, tzinfo=LA)) == datetime(2026, 11, 23, 8, tzinfo=LA)
