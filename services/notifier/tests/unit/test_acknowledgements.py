"""The automatic acknowledgement of a new ticket: who gets it, when not, which template, once."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.adapters.routing_file import load_routing
from notifier.domain.deliveries import (
    Acknowledgements,
    AckRule,
    Contact,
    Routing,
    TicketInfo,
    business_time_in_words,
    decide,
)
from supportdesk_contract.catalogue import Channel, Priority, RequestType
from supportdesk_devstack.testing.events import opened, started, triaged

T = datetime(2026, 11, 23, 17, tzinfo=UTC)
OPENED = uuid.uuid4()
TICKET = TicketInfo(
    "TKT-9",
    "Export fails",
    "dana@acme.example",
    "acme",
    "technical",
    "normal",
    False,
    status_url="https://desk.example/v1/tickets/t-9",
    access_token="dana-s-token",
    channel="email",
    policy="data-insights",
    opened_event_id=OPENED,
)
HOOK = Contact(webhook_url="https://acme.example/hook")
STARTED = {
    "started_at": T,
    "due_at": datetime(2026, 11, 24, 22, 0, tzinfo=UTC),
    "target_seconds": 8 * 3600,
    "calendar": "c",
    "opened_in_hours": True,
}
TRIAGED = {"priority": Priority.LOW, "channel": Channel.EMAIL, "opened_at": T}


def test_an_email_requester_is_acknowledged_once_with_the_target_in_words() -> None:
    (ack,) = decide(started(**STARTED), TICKET, Routing())
    assert (ack.recipient, ack.channel, ack.template, ack.cause) == (
        "dana@acme.example",
        "email",
        "acknowledgement",
        OPENED,
    )
    assert ack.context["target_words"] == "8 business hours"
    assert ack.context["due_at"] == "2026-11-24 22:00 UTC"
    assert ack.context["access_token"] == "dana-s-token"
    assert decide(started(cycle=2, **STARTED), TICKET, Routing()) == []  # a reopened ticket's clock: no new one
    assert decide(triaged(**TRIAGED), TICKET, Routing()) == []  # the clock will say it


def test_a_request_outside_the_sla_is_acknowledged_without_a_target_under_the_same_cause() -> None:
    (ack,) = decide(triaged(request_type=RequestType.FEATURE_REQUEST, sla_exempt=True, **TRIAGED), TICKET, Routing())
    assert ack.cause == OPENED and ack.context["target_words"] is None


@pytest.mark.parametrize(
    "ticket",
    [
        replace(TICKET, channel="web"),  # the web form answers with the token itself
        replace(TICKET, requester_email=None),  # a phone requester with no address: nothing to send to
        replace(TICKET, requester_email="mailer-daemon@acme.example"),
        replace(TICKET, requester_email="no-reply@acme.example"),
        replace(TICKET, opened_by_staff="first-level@supportdesk.example"),
        replace(TICKET, opened_event_id=None),  # opened before the notifier kept the cause
    ],
)
def test_no_acknowledgement(ticket: TicketInfo) -> None:
    assert decide(started(**STARTED), ticket, Routing()) == []


def test_phone_requesters_with_an_address_are_acknowledged() -> None:
    assert len(decide(started(**STARTED), replace(TICKET, channel="phone"), Routing())) == 1


def test_customer_over_policy_over_default() -> None:
    acks = Acknowledgements(
        policies={"data-insights": AckRule(send=False)},
        customers={"acme": AckRule(send=True, template="acme_ack", staff_opened=True)},
    )
    routing = Routing(acknowledgements=acks)
    (ack,) = decide(started(**STARTED), replace(TICKET, opened_by_staff="ann@supportdesk.example"), routing)
    assert ack.template == "acme_ack"
    assert decide(started(**STARTED), replace(TICKET, customer_id="globex"), routing) == []  # the policy says off
    assert decide(started(**STARTED), replace(TICKET, policy="civicplus", customer_id=None), routing)[0].template == (
        "acknowledgement"
    )


def test_the_customer_webhook_hears_ticket_opened() -> None:
    event = opened(customer_id="acme", opened_at=T)
    (hook,) = decide(event, TICKET, Routing(customer_webhooks={"acme": HOOK}))
    assert (hook.channel, hook.template, hook.recipient) == ("webhook", "ticket_opened", HOOK.webhook_url)
    assert decide(event, TICKET, Routing()) == []


def test_business_time_in_words() -> None:
    assert business_time_in_words(8 * 3600) == "8 business hours"
    assert business_time_in_words(3600) == "1 business hour"
    assert business_time_in_words(30 * 60) == "30 business minutes"
    assert business_time_in_words(5400) == "1 business hour 30 minutes"


def test_the_routing_file_configures_acknowledgements(tmp_path: Path) -> None:
    f = tmp_path / "routing.yaml"
    f.write_text(
        "acknowledgements:\n"
        "  staff_opened: true\n"
        "  channels: [email]\n"
        "  policies: {civicplus: {send: no}}\n"  # a string in YAML 1.2; pydantic reads it as false
        "  customers: {acme: {template: acme_ack}}\n"
    )
    acks = load_routing(str(f)).acknowledgements
    assert acks.default == AckRule(True, "acknowledgement", True)
    assert acks.channels == frozenset({"email"})
    assert acks.policies["civicplus"].send is False
    assert acks.customers["acme"] == AckRule(None, "acme_ack", None)


# --- the requester's verification link (docs/operations/security.md#claims-from-strangers) ---

LINK = "https://desk.example/v1/tickets/t-9/requester-verification#token=one-time"


def test_a_web_requester_offered_a_link_is_acknowledged_with_it() -> None:
    web = replace(TICKET, channel="web", verification_url=LINK)
    (ack,) = decide(started(**STARTED), web, Routing())
    assert ack.recipient == "dana@acme.example" and ack.context["verification_url"] == LINK
    # Without a link, the web form's answer is its acknowledgement, as before.
    assert decide(started(**STARTED), replace(web, verification_url=None), Routing()) == []


def test_the_link_goes_out_even_where_acknowledgements_are_turned_off() -> None:
    off = Routing(acknowledgements=Acknowledgements(default=AckRule(send=False, template="acknowledgement")))
    assert decide(started(**STARTED), TICKET, off) == []
    (ack,) = decide(started(**STARTED), replace(TICKET, verification_url=LINK), off)
    assert ack.context["verification_url"] == LINK
