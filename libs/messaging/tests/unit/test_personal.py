"""The crypto envelope of requesters' personal data (supportdesk_messaging.personal)."""

from __future__ import annotations

import json

from supportdesk_contract.catalogue import ERASED_TEXT, Attachment, Channel, CustomerReplied
from supportdesk_contract.envelope import decode, encode_value
from supportdesk_devstack.testing.events import opened
from supportdesk_messaging.personal import (
    mask_event,
    new_data_key,
    open_event,
    open_fields,
    seal_event,
    seal_fields,
)

PASSPORT = Attachment(name="mara-passport.pdf", content_type="application/pdf", size=3, sha256="ab")
OPENED = opened(
    number="TKT-1",
    channel=Channel.EMAIL,
    requester_email="mara.quill@customer.example",
    requester_phone="+1 555 0100",
    subject="Invoice export broken",
    description="My cat Biscuit walked over the keyboard and the export died",
    attachments=(PASSPORT,),
)


def test_sealed_fields_open_only_with_the_key_and_the_requester_they_were_sealed_for() -> None:
    key = new_data_key()
    sealed = seal_fields(key, "req-1", {"body": "hello"})
    assert "hello" not in sealed
    assert open_fields(key, "req-1", sealed) == {"body": "hello"}
    assert open_fields(new_data_key(), "req-1", sealed) is None  # another key
    assert open_fields(key, "req-2", sealed) is None  # moved to another requester's event
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    assert open_fields(key, "req-1", tampered) is None
    assert open_fields(key, "req-1", "not sealed") is None


def test_a_sealed_event_carries_no_personal_field_in_clear_and_opens_to_the_original() -> None:
    key = new_data_key()
    sealed = seal_event(OPENED, "req-1", key)
    wire = json.dumps(sealed.model_dump(mode="json"))
    for secret in ("mara.quill", "555 0100", "Invoice export", "Biscuit", "passport"):
        assert secret not in wire
    assert sealed.requester_id == "req-1" and sealed.sealed_personal
    assert sealed.number == "TKT-1" and sealed.channel is Channel.EMAIL  # the rest stays readable
    opened = open_event(sealed, key)
    assert opened == OPENED.model_copy(update={"requester_id": "req-1"})
    assert open_event(sealed, new_data_key()) is None
    assert seal_event(sealed, "req-1", key) is sealed  # sealing twice is a no-op


def test_masking_keeps_the_ticket_facts_and_drops_the_person() -> None:
    masked = mask_event(seal_event(OPENED, "req-1", new_data_key()))
    assert (masked.requester_email, masked.requester_phone, masked.attachments) == (None, None, ())
    assert (masked.subject, masked.description) == (ERASED_TEXT, ERASED_TEXT)
    assert masked.sealed_personal is None and masked.requester_id == "req-1"
    assert (masked.number, masked.opened_at) == (OPENED.number, OPENED.opened_at)
    reply = mask_event(CustomerReplied(channel=Channel.WEB, body="call me on 555 0100"))
    assert reply.body == ERASED_TEXT


def test_events_written_before_sealing_still_decode_in_clear() -> None:
    env = {
        "event_id": "00000000-0000-0000-0000-0000000000aa",
        "event_type": "CustomerReplied",
        "schema_version": 1,
        "ticket_id": "t",
        "occurred_at": "2026-11-23T10:00:00Z",
        "producer": "intake",
        "causation_id": None,
        "correlation_id": "00000000-0000-0000-0000-000000000001",
        "payload": {"channel": "email", "body": "old plaintext"},
    }
    payload = decode(encode_value(env)).payload
    assert isinstance(payload, CustomerReplied)
    assert payload.body == "old plaintext" and payload.sealed_personal is None
    assert open_event(payload, new_data_key()) is payload  # nothing sealed: nothing to open


def test_the_reasons_a_requester_writes_travel_sealed_and_are_shredded_by_erasure() -> None:
    from supportdesk_contract.catalogue import EscalationRequested, TicketReopened

    key = new_data_key()
    for written in (
        TicketReopened(by="requester", reason="it broke again, call Mara on 555 0100"),
        EscalationRequested(by="requester", reason="Mara here: our payroll is blocked"),
    ):
        sealed = seal_event(written, "req-1", key)
        wire = json.dumps(sealed.model_dump(mode="json"))
        assert "Mara" not in wire and sealed.reason == "" and sealed.by == "requester"
        assert open_event(sealed, key) == written.model_copy(update={"requester_id": "req-1"})
        assert mask_event(sealed).reason == ERASED_TEXT
