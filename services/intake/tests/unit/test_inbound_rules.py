"""Intake's pure inbound rules, without HTTP: machines are recognised, threads are found, a staff
forward is filed for the caller, phone numbers compare equal however they are written."""

from typing import Any

import pytest

from intake.domain.customers import ContactRole, CustomerMatch, best_match, email_domain, normalise_phone
from intake.domain.inbound import (
    Authenticity,
    InboundEmail,
    auto_reply_reason,
    forwarded_requester,
    message_ids,
    outbound_ticket_number,
    storable,
    thread_message_ids,
    ticket_numbers,
)

STAFF = frozenset({"vendor.example"})
PROVEN = Authenticity("pass", "dmarc=pass for vendor.example")


def mail(sender: str = "jane@customer.example", *, subject: str = "Help", text: str = "", **kw: Any) -> InboundEmail:
    return InboundEmail(sender=sender, subject=subject, text=text, **kw)


@pytest.mark.parametrize(
    ("headers", "sender", "envelope_sender", "reason"),
    [
        ((("Auto-Submitted", "auto-replied"),), "jane@customer.example", None, "Auto-Submitted: auto-replied"),
        ((("X-Autoreply", "yes"),), "jane@customer.example", None, "X-Autoreply: yes"),
        ((("X-Auto-Response-Suppress", "All"),), "jane@customer.example", None, "X-Auto-Response-Suppress: All"),
        ((("Precedence", "bulk"),), "jane@customer.example", None, "Precedence: bulk"),
        ((), "MAILER-DAEMON@mx.customer.example", None, "automated sender mailer-daemon@mx.customer.example"),
        ((), "no-reply@customer.example", None, "automated sender no-reply@customer.example"),
        ((), "jane@customer.example", "", "empty envelope sender (a bounce)"),
    ],
)
def test_machines_are_recognised(
    headers: tuple[tuple[str, str], ...], sender: str, envelope_sender: str | None, reason: str
) -> None:
    email = mail(sender.lower(), headers=headers, envelope_sender=envelope_sender)
    assert auto_reply_reason(email) == reason


@pytest.mark.parametrize(
    "headers",
    [(("Auto-Submitted", "no"),), (("X-Auto-Response-Suppress", "OOF"),), (("Precedence", "first-class"),), ()],
)
def test_people_are_not_machines(headers: tuple[tuple[str, str], ...]) -> None:
    assert auto_reply_reason(mail(headers=headers, envelope_sender="jane@customer.example")) is None


def test_ticket_numbers_from_the_subject_token_then_plus_addresses_once_each() -> None:
    email = mail(
        subject="Re: [#tkt-1042] printer [#TKT-1042]",
        recipients=("support+TKT-1043@vendor.example", "support@vendor.example", "support+tkt-1042@vendor.example"),
    )
    assert ticket_numbers(email, "TKT") == ["TKT-1042", "TKT-1043"]
    assert ticket_numbers(mail(subject="[#OTHER-1] x"), "TKT") == []


def test_thread_ids_nearest_first_and_our_own_outgoing_ids_name_the_ticket() -> None:
    email = mail(in_reply_to=("c@x",), references=("a@x", "b@x", "c@x"))
    assert thread_message_ids(email) == ["c@x", "b@x", "a@x"]
    assert message_ids("<a@x> <b@x>") == ("a@x", "b@x")
    assert message_ids("a@x b@x") == ("a@x", "b@x")  # brackets forgotten by a sloppy client
    assert outbound_ticket_number("TKT-1042.8f3a@desk.vendor.example", "TKT") == "TKT-1042"
    assert outbound_ticket_number("CAF00@mail.gmail.com", "TKT") is None


def test_a_staff_forward_is_filed_for_the_caller() -> None:
    reply_to = (("Reply-To", "Joe <joe@customer.example>"),)
    by_reply_to = mail("ann@vendor.example", headers=reply_to, authenticity=PROVEN)
    assert forwarded_requester(by_reply_to, STAFF) == "joe@customer.example"
    by_forwarded_line = mail(
        "ann@vendor.example",
        text="FYI\n\n---------- Forwarded message ---------\n> From: Joe <joe@customer.example>\n",
        authenticity=PROVEN,
    )
    assert forwarded_requester(by_forwarded_line, STAFF) == "joe@customer.example"
    # Staff writing for themselves, and customers forwarding, are not forwards of a phone request.
    assert forwarded_requester(mail("ann@vendor.example", text="From: bob@vendor.example"), STAFF) is None
    # A staff From nothing proves is anyone's: its Reply-To files nothing for a victim.
    assert forwarded_requester(mail("ann@vendor.example", headers=reply_to), STAFF) is None
    assert forwarded_requester(mail(text="From: joe@customer.example"), STAFF) is None
    assert forwarded_requester(by_reply_to, frozenset()) is None


def test_what_postgres_cannot_store_becomes_a_replacement_character() -> None:
    assert storable("a\x00b\ud800c") == "a\ufffdb?c"
    assert mail(subject="x\x00y").subject == "x\ufffdy"


def test_phone_numbers_compare_equal_however_written() -> None:
    assert normalise_phone("+1 (555) 010-0100") == normalise_phone("+15550100100") == "+15550100100"
    assert normalise_phone("555.010.0100") == "5550100100"
    assert email_domain(" Jane@Customer.Example ") == "customer.example"


def test_best_match_prefers_the_customers_own_people_and_refuses_ambiguous_partners() -> None:
    member = CustomerMatch("acme", None, "gold", ContactRole.MEMBER)
    emergency = CustomerMatch("acme", None, "gold", ContactRole.EMERGENCY)
    partner_a = CustomerMatch("acme", None, "gold", ContactRole.PARTNER)
    partner_b = CustomerMatch("globex", None, "basic", ContactRole.PARTNER)
    assert best_match([partner_a, member, emergency]) == emergency
    assert best_match([partner_a]) == partner_a
    assert best_match([partner_a, partner_b]) is None
    assert best_match([]) is None
