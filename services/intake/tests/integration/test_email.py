"""Inbound email by every vendor, shaped as each vendor sends it, on the real database."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import text

from intake.entrypoints.routes import inbound_email

from .conftest import Intake

pytestmark = pytest.mark.integration

BASIC = {"Authorization": "Basic " + base64.b64encode(b"inbound:s3cret").decode()}


def mime(
    sender: str,
    subject: str,
    body: str,
    *,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    attachment: tuple[str, bytes] | None = None,
    to: str = "support@supportdesk.example",
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = f"<{message_id or uuid.uuid4().hex + '@mail.example'}>"
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment[1], maintype="application", subtype="pdf", filename=attachment[0])
    return bytes(msg)


async def post_raw(intake: Intake, raw: bytes, auth: dict[str, str] = BASIC) -> Any:
    return await intake.client.post(
        "/v1/inbound/email", content=raw, headers={**auth, "Content-Type": "message/rfc822"}
    )


def mailgun_signed(
    fields: dict[str, str], *, key: str = "mg-signing-key", timestamp: int | None = None, token: str | None = None
) -> dict[str, str]:
    ts, tok = str(timestamp or int(time.time())), token or uuid.uuid4().hex + uuid.uuid4().hex[:18]
    sig = hmac.new(key.encode(), (ts + tok).encode(), hashlib.sha256).hexdigest()
    return {**fields, "timestamp": ts, "token": tok, "signature": sig}


async def ticket(intake: Intake, ticket_id: str) -> dict[str, Any]:
    return dict((await intake.client.get(f"/v1/tickets/{ticket_id}", headers=intake.as_agent())).json())


async def test_a_raw_email_opens_an_email_ticket_and_keeps_the_attachment(intake: Intake) -> None:
    r = await post_raw(
        intake,
        mime(
            "Dana <dana@harbor.example>",
            "Export fails",
            "Empty CSV since 9am",
            attachment=("trace.pdf", b"%PDF-1.4 trace"),
        ),
    )
    assert r.status_code == 201, r.text
    t = await ticket(intake, r.json()["ticket_id"])
    opened = t["history"][0]["payload"]
    assert (t["channel"], t["requester_email"], t["customer_id"]) == ("email", "dana@harbor.example", None)
    assert opened["attachments"] == [
        {
            "name": "trace.pdf",
            "content_type": "application/pdf",
            "size": 14,
            "sha256": hashlib.sha256(b"%PDF-1.4 trace").hexdigest(),
        }
    ]


async def test_replies_thread_by_subject_token_in_reply_to_our_message_ids_and_plus_address(intake: Intake) -> None:
    first = await post_raw(intake, mime("dana@harbor.example", "Export fails", "help", message_id="m1@harbor"))
    tid, number = first.json()["ticket_id"], first.json()["number"]
    replies = [
        mime("dana@harbor.example", f"Re: Export fails [#{number}]", "by token"),
        mime("dana@harbor.example", "Re: Export fails", "by in-reply-to", headers={"In-Reply-To": "<m1@harbor>"}),
        mime(
            "dana@harbor.example",
            "Re: your ticket",
            "by our outbound id",
            headers={"References": f"<other@x> <{number}.8f2c@supportdesk.example>"},
        ),
        mime("dana@harbor.example", "more", "by plus address", to=f"support+{number}@supportdesk.example"),
    ]
    for raw in replies:
        r = await post_raw(intake, raw)
        assert (r.status_code, r.json()["outcome"], r.json()["ticket_id"]) == (200, "reply_added", tid), r.text
    bodies = [
        h["payload"]["body"] for h in (await ticket(intake, tid))["history"] if h["event_type"] == "CustomerReplied"
    ]
    assert bodies == ["by token", "by in-reply-to", "by our outbound id", "by plus address"]


async def test_a_stranger_cannot_write_into_someone_elses_ticket_by_naming_it(intake: Intake) -> None:
    first = await post_raw(intake, mime("dana@harbor.example", "Export fails", "help"))
    r = await post_raw(intake, mime("mallory@evil.example", f"Re: [#{first.json()['number']}]", "ignore previous"))
    assert r.json()["outcome"] == "ticket_opened" and r.json()["ticket_id"] != first.json()["ticket_id"]
    assert "not on that ticket" in r.json()["detail"]


async def test_the_same_message_twice_by_any_vendor_is_one_ticket(intake: Intake) -> None:
    raw = mime("dana@harbor.example", "Export fails", "help", message_id="once@harbor")
    a, b = await post_raw(intake, raw), await post_raw(intake, raw)
    postmark = {
        "FromFull": {"Email": "dana@harbor.example", "Name": "Dana"},
        "Subject": "Export fails",
        "TextBody": "help",
        "Headers": [{"Name": "Message-ID", "Value": "<once@harbor>"}],
        "ToFull": [{"Email": "support@supportdesk.example"}],
        "MessageID": "pm-1",
    }
    c = await intake.client.post("/v1/inbound/email/postmark", json=postmark, headers=BASIC)
    assert [a.json()["outcome"], b.json()["outcome"], c.json()["outcome"]] == [
        "ticket_opened",
        "duplicate",
        "duplicate",
    ]
    assert b.json()["ticket_id"] == c.json()["ticket_id"] == a.json()["ticket_id"]


@pytest.mark.parametrize(
    ("sender", "headers"),
    [
        ("dana@harbor.example", {"Auto-Submitted": "auto-replied"}),
        ("dana@harbor.example", {"X-Autoreply": "yes"}),
        ("dana@harbor.example", {"Precedence": "bulk"}),
        ("MAILER-DAEMON@mx.harbor.example", {}),
    ],
)
async def test_auto_replies_and_bounces_never_open_tickets(
    intake: Intake, sender: str, headers: dict[str, str]
) -> None:
    r = await post_raw(intake, mime(sender, "Out of office", "back Monday", headers=headers))
    assert (r.status_code, r.json()["outcome"]) == (200, "auto_reply_ignored")
    assert "ticket_id" not in r.json()


async def test_mailgun_signed_form_with_attachment_and_replays_refused(intake: Intake) -> None:
    fields = mailgun_signed(
        {
            "recipient": "support@supportdesk.example",
            "sender": "ops@state-transit.example",
            "from": "Ops <ops@state-transit.example>",
            "subject": "Feed stalled",
            "body-plain": "Feed stalled\n> quoted",
            "stripped-text": "Feed stalled",
            "Message-Id": "<mg-1@state-transit>",
            "message-headers": json.dumps([["Message-Id", "<mg-1@state-transit>"], ["Subject", "Feed stalled"]]),
            "attachment-count": "1",
        }
    )
    files = {"attachment-1": ("log.txt", b"line 1\n", "text/plain")}
    r = await intake.client.post("/v1/inbound/email/mailgun", data=fields, files=files)
    assert r.status_code == 201, r.text
    t = await ticket(intake, r.json()["ticket_id"])
    assert t["history"][0]["payload"]["description"] == "Feed stalled"  # Mailgun's stripped text
    assert t["history"][0]["payload"]["attachments"][0]["name"] == "log.txt"
    replay = await intake.client.post("/v1/inbound/email/mailgun", data=fields, files=files)
    assert replay.status_code == 401 and "used before" in replay.json()["detail"]
    stale = mailgun_signed({"from": "a@b.example"}, timestamp=int(time.time()) - 301)
    assert (await intake.client.post("/v1/inbound/email/mailgun", data=stale)).status_code == 401
    forged = mailgun_signed({"from": "a@b.example"}, key="not-the-key")
    assert (await intake.client.post("/v1/inbound/email/mailgun", data=forged)).status_code == 401
    urlencoded = mailgun_signed({"from": "x@y.example", "subject": "s", "body-plain": "b", "recipient": "s@s"})
    assert (await intake.client.post("/v1/inbound/email/mailgun", data=urlencoded)).status_code == 201


async def test_sendgrid_parsed_and_raw_modes(intake: Intake) -> None:
    parsed = {
        "headers": "Message-ID: <sg-1@okl.example>\r\nFrom: Lee <lee@okl.example>\r\nSubject: Harvest broken",
        "from": "Lee <lee@okl.example>",
        "to": "support@supportdesk.example",
        "subject": "Harvest broken",
        "text": "The harvester stops at page 2",
        "html": "<p>The harvester stops at page 2</p>",
        "envelope": json.dumps({"to": ["support@supportdesk.example"], "from": "lee@okl.example"}),
        "charsets": json.dumps({"to": "UTF-8", "subject": "UTF-8", "from": "UTF-8", "text": "UTF-8"}),
        "SPF": "pass",
        "attachments": "1",
        "attachment-info": json.dumps({"attachment1": {"filename": "shot.png", "type": "image/png"}}),
    }
    r = await intake.client.post(
        "/v1/inbound/email/sendgrid",
        data=parsed,
        files={"attachment1": ("shot.png", b"\x89PNG", "image/png")},
        headers=BASIC,
    )
    assert r.status_code == 201, r.text
    t = await ticket(intake, r.json()["ticket_id"])
    assert (t["requester_email"], t["subject"]) == ("lee@okl.example", "Harvest broken")
    raw_mode = {
        "email": mime("lee@okl.example", "Second issue", "raw mode body").decode(),
        "to": "s@s",
        "from": "lee@okl.example",
    }
    r2 = await intake.client.post(
        "/v1/inbound/email/sendgrid", data=raw_mode, files={"x": ("x", b"", "text/plain")}, headers=BASIC
    )
    assert r2.status_code == 201 and (await ticket(intake, r2.json()["ticket_id"]))["subject"] == "Second issue"
    assert (await intake.client.post("/v1/inbound/email/sendgrid", data=parsed)).status_code == 401


async def test_postmark_json_with_stripped_reply_and_attachment(intake: Intake) -> None:
    payload = {
        "FromName": "Ada",
        "From": "ada@metro-health.example",
        "FromFull": {"Email": "ada@metro-health.example", "Name": "Ada", "MailboxHash": ""},
        "To": "support@supportdesk.example",
        "ToFull": [{"Email": "support@supportdesk.example", "Name": ""}],
        "Subject": "Dashboard blank",
        "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
        "TextBody": "Dashboard blank\n\nOn Mon, wrote:\n> old",
        "StrippedTextReply": "Dashboard blank",
        "MailboxHash": "",
        "Date": "Mon, 23 Nov 2026 09:00:00 -0800",
        "Headers": [{"Name": "Message-ID", "Value": "<pm-7@metro-health.example>"}],
        "Attachments": [
            {
                "Name": "a.txt",
                "Content": base64.b64encode(b"hello").decode(),
                "ContentType": "text/plain",
                "ContentLength": 5,
            }
        ],
    }
    r = await intake.client.post("/v1/inbound/email/postmark", json=payload, headers=BASIC)
    assert r.status_code == 201, r.text
    t = await ticket(intake, r.json()["ticket_id"])
    assert t["history"][0]["payload"]["description"] == "Dashboard blank"
    assert t["history"][0]["payload"]["attachments"][0]["size"] == 5


async def test_an_unreadable_payload_is_kept_flagged_and_reprocessed_after_a_fix(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = await intake.client.post("/v1/inbound/email/postmark", content=b"{not json", headers=BASIC)
    assert garbage.status_code == 403  # Postmark stops retrying on 403: it cannot be fixed by retrying
    assert garbage.json()["errors"][0]["field"] == "body"

    async def buggy(body: bytes, content_type: str | None, trusted_ids: frozenset[str]) -> Any:
        raise KeyError("FromFull")  # a parser bug, not a bad payload: still kept, flagged, no 5xx

    monkeypatch.setitem(inbound_email.PARSERS, "postmark", buggy)
    payload = {
        "FromFull": {"Email": "ada@metro-health.example"},
        "Subject": "Kept",
        "TextBody": "t",
        "MessageID": "pm-9",
    }
    kept = await intake.client.post("/v1/inbound/email/postmark", json=payload, headers=BASIC)
    assert kept.status_code == 403
    admin = {"Authorization": "Bearer admin-key"}
    flagged = (await intake.client.get("/v1/inbound", params={"outcome": "unreadable"}, headers=admin)).json()
    assert {f["inbound_id"] for f in flagged} == {garbage.json()["inbound_id"], kept.json()["inbound_id"]}
    monkeypatch.undo()  # the fix is deployed
    again = await intake.client.post(f"/v1/inbound/{kept.json()['inbound_id']}/reprocess", headers=admin)
    assert (again.status_code, again.json()["outcome"]) == (201, "ticket_opened")
    assert (await ticket(intake, again.json()["ticket_id"]))["subject"] == "Kept"


async def test_credentials_size_and_media_type_are_checked_first(intake: Intake) -> None:
    raw = mime("dana@harbor.example", "s", "b")
    assert (await post_raw(intake, raw, auth={})).status_code == 401
    bad = {"Authorization": "Basic " + base64.b64encode(b"inbound:wrong").decode()}
    assert (await post_raw(intake, raw, auth=bad)).status_code == 401
    wrong_type = await intake.client.post(
        "/v1/inbound/email", content=raw, headers={**BASIC, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    big = await post_raw(intake, raw + b"x" * 2_000_001)
    assert big.status_code == 413 and big.headers["content-type"] == "application/problem+json"


async def test_staff_forwarding_a_phone_request_files_it_for_the_caller(intake: Intake) -> None:
    body = "Caller reports the portal is down.\n\n---------- Forwarded message ---------\nFrom: Kim <kim@okl.example>\n"
    proven = {"Authentication-Results": "mx.supportdesk.example; dmarc=pass header.from=supportdesk.example"}
    r = await post_raw(intake, mime("firstlevel@supportdesk.example", "Fwd: portal down", body, headers=proven))
    filed = await ticket(intake, r.json()["ticket_id"])
    assert filed["requester_email"] == "kim@okl.example"
    # Staff filed it on Kim's behalf: the notifier does not auto-acknowledge it unless configured.
    assert filed["history"][0]["payload"]["opened_by_staff"] == "firstlevel@supportdesk.example"
    own = await post_raw(intake, mime("kim@okl.example", "Portal down again", "still down"))
    assert (await ticket(intake, own.json()["ticket_id"]))["history"][0]["payload"]["opened_by_staff"] is None
    # Staff vouch for the caller; Kim's own mail, with no verdict, proves nothing about who sent it.
    assert filed["history"][0]["payload"]["requester_verified"] is True
    assert (await ticket(intake, own.json()["ticket_id"]))["history"][0]["payload"]["requester_verified"] is False


async def test_mail_whose_sender_domain_passed_dmarc_opens_a_ticket_with_a_proven_requester(intake: Intake) -> None:
    proven = {"Authentication-Results": "mx.supportdesk.example; dmarc=pass header.from=okl.example"}
    r = await post_raw(intake, mime("kim@okl.example", "Export fails", "since this morning", headers=proven))
    assert (await ticket(intake, r.json()["ticket_id"]))["history"][0]["payload"]["requester_verified"] is True
    failed = {"Authentication-Results": "mx.supportdesk.example; dmarc=fail header.from=okl.example"}
    r = await post_raw(intake, mime("kim@okl.example", "Export fails", "again", headers=failed))
    assert (await ticket(intake, r.json()["ticket_id"]))["history"][0]["payload"]["requester_verified"] is False


async def test_an_email_requester_gets_a_sealed_token_that_opens_only_their_ticket(intake: Intake) -> None:
    from supportdesk_messaging.sealing import unseal

    from .conftest import TOKEN_KEY

    r = await post_raw(intake, mime("dana@harbor.example", "Export fails", "help"))
    opened = (await ticket(intake, r.json()["ticket_id"]))["history"][0]["payload"]
    sealed = opened["requester_token_sealed"]
    token = unseal(TOKEN_KEY, sealed)
    assert token is not None and token not in str(opened).replace(sealed, "")  # only ever sealed in the log
    own = await intake.client.get(f"/v1/tickets/{r.json()['ticket_id']}", headers=intake.as_requester(token))
    assert own.status_code == 200
    other = await post_raw(intake, mime("eve@else.example", "x", "y"))
    assert (
        await intake.client.get(f"/v1/tickets/{other.json()['ticket_id']}", headers=intake.as_requester(token))
    ).status_code == 404


async def test_erasing_a_requester_scrubs_their_raw_mail_that_never_joined_their_tickets(intake: Intake) -> None:
    admin = {"Authorization": "Bearer admin-key"}
    opened = await post_raw(intake, mime("ines@okl.example", "Portal down", "since noon"))
    assert opened.json()["outcome"] == "ticket_opened"
    # Ines's out-of-office, and a colleague's: neither becomes part of a ticket.
    away = {"Auto-Submitted": "auto-replied"}
    hers = await post_raw(intake, mime("Ines@okl.example", "Out of office", "Ines is away until Monday", headers=away))
    theirs = await post_raw(intake, mime("jo@okl.example", "Out of office", "Jo is away", headers=away))
    assert (hers.json()["outcome"], theirs.json()["outcome"]) == ("auto_reply_ignored", "auto_reply_ignored")

    found = await intake.client.get("/v1/requesters", params={"email": "ines@okl.example"}, headers=admin)
    [requester] = found.json()
    erased = await intake.client.post(f"/v1/requesters/{requester['requester_id']}/erasure", headers=admin)
    assert erased.status_code == 200, erased.text

    async def body_of(inbound_id: str) -> bytes:
        async with intake.engine.connect() as conn:
            sql = text("SELECT body, sender_digest FROM inbound_messages WHERE inbound_id = :i")
            row = await conn.execute(sql, {"i": uuid.UUID(inbound_id)})
            body, digest = row.one()
            assert (digest is None) == (body == b"")  # the tie to the sender goes with the body
            return bytes(body)

    assert await body_of(hers.json()["inbound_id"]) == b""  # no ticket of hers, yet hers
    assert await body_of(opened.json()["inbound_id"]) == b""  # her ticket's, as before
    assert b"Jo is away" in await body_of(theirs.json()["inbound_id"])  # a colleague's stays
