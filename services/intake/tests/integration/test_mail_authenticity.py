"""A staff From is staff only when SPF/DKIM/DMARC prove it, by every vendor and by raw MIME; an
ambiguous From (CVE-2023-27043) is nobody's. On the real database, through intake's HTTP routes."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from .conftest import Intake
from .test_email import BASIC, mailgun_signed, mime, post_raw, ticket

pytestmark = pytest.mark.integration

STAFF = "ann@supportdesk.example"  # staff_domains="supportdesk.example" in conftest


def domain(address: str) -> str:
    return address.rpartition("@")[2]


Send = Callable[[Intake, str, str, bool | None], Awaitable[Any]]  # (intake, from, subject, proven?)


async def raw_mime(intake: Intake, sender: str, subject: str, proven: bool | None) -> Any:
    """Through our MTA, whose Authentication-Results (authserv-id mx.supportdesk.example) is trusted."""
    headers = {}
    if proven is not None:
        dmarc = "pass" if proven else "fail"
        headers["Authentication-Results"] = f"mx.supportdesk.example; dmarc={dmarc} header.from={domain(sender)}"
    return await post_raw(intake, mime(sender, subject, "written by whoever", headers=headers))


async def mailgun(intake: Intake, sender: str, subject: str, proven: bool | None) -> Any:
    headers = [] if proven is None else [["X-Mailgun-Spf", "Pass" if proven else "Fail"]]
    fields = {
        "sender": sender,  # the envelope sender: SPF aligned with From when it passes
        "from": sender,
        "subject": subject,
        "body-plain": "written by whoever",
        "message-headers": json.dumps(headers),
    }
    return await intake.client.post("/v1/inbound/email/mailgun", data=mailgun_signed(fields))


async def sendgrid(intake: Intake, sender: str, subject: str, proven: bool | None) -> Any:
    fields = {"from": sender, "subject": subject, "text": "written by whoever", "to": "support@supportdesk.example"}
    if proven is not None:
        fields |= {"SPF": "none", "dkim": f"{{@{domain(sender)} : {'pass' if proven else 'fail'}}}"}
    return await intake.client.post("/v1/inbound/email/sendgrid", data=fields, headers=BASIC)


async def postmark(intake: Intake, sender: str, subject: str, proven: bool | None) -> Any:
    headers = []
    if proven is not None:
        spf = f"{'Pass' if proven else 'Fail'} (sender SPF ...) identity=mailfrom; envelope-from={sender};"
        headers.append({"Name": "Received-SPF", "Value": spf})
    payload = {"FromFull": {"Email": sender}, "Subject": subject, "TextBody": "written by whoever", "Headers": headers}
    return await intake.client.post("/v1/inbound/email/postmark", json=payload, headers=BASIC)


VENDORS = pytest.mark.parametrize("send", [raw_mime, mailgun, sendgrid, postmark], ids=lambda f: f.__name__)


async def replies_on(intake: Intake, ticket_id: str) -> list[str]:
    history = (await ticket(intake, ticket_id))["history"]
    return [h["payload"]["body"] for h in history if h["event_type"] == "CustomerReplied"]


async def listed(intake: Intake, outcome: str) -> list[dict[str, Any]]:
    r = await intake.client.get(
        "/v1/inbound", params={"outcome": outcome}, headers={"Authorization": "Bearer admin-key"}
    )
    assert r.status_code == 200, r.text
    return list(r.json())


@VENDORS
@pytest.mark.parametrize("proven", [False, None], ids=["failing", "missing"])
async def test_a_forged_staff_from_naming_a_ticket_is_kept_and_flagged_not_written(
    intake: Intake, send: Send, proven: bool | None
) -> None:
    victim = await intake.open_ticket(requester_email="dana@harbor.example")
    r = await send(intake, STAFF, f"Re: Export fails [#{victim['number']}]", proven)
    assert r.status_code == 200, r.text
    assert (r.json()["outcome"], r.json()["authenticated"]) == ("unverified", False)
    assert "ticket_id" not in r.json()
    assert await replies_on(intake, victim["ticket_id"]) == []
    flagged = {row["inbound_id"]: row for row in await listed(intake, "unverified")}
    assert STAFF in flagged[r.json()["inbound_id"]]["detail"]


@VENDORS
async def test_a_proven_staff_from_naming_a_ticket_writes_on_it(intake: Intake, send: Send) -> None:
    t = await intake.open_ticket(requester_email="dana@harbor.example")
    r = await send(intake, STAFF, f"Re: Export fails [#{t['number']}]", True)
    assert (r.status_code, r.json()["outcome"], r.json()["ticket_id"]) == (200, "reply_added", t["ticket_id"]), r.text
    assert r.json()["authenticated"] is True
    assert await replies_on(intake, t["ticket_id"]) == ["written by whoever"]


@VENDORS
async def test_the_requester_replies_on_their_own_ticket_unless_the_verdicts_fail(intake: Intake, send: Send) -> None:
    t = await intake.open_ticket(requester_email="dana@harbor.example")
    subject = f"Re: Export fails [#{t['number']}]"
    proven = await send(intake, "dana@harbor.example", subject, True)
    assert (proven.json()["outcome"], proven.json()["ticket_id"]) == ("reply_added", t["ticket_id"]), proven.text
    assert proven.json()["authenticated"] is True
    disproven = await send(intake, "dana@harbor.example", subject, False)
    assert disproven.json()["outcome"] == "ticket_opened" and disproven.json()["ticket_id"] != t["ticket_id"]
    assert "unverified" in disproven.json()["detail"]
    assert await replies_on(intake, t["ticket_id"]) == ["written by whoever"]


async def test_without_any_verdict_the_requester_still_replies_but_is_not_authenticated(intake: Intake) -> None:
    t = await intake.open_ticket(requester_email="dana@harbor.example")
    r = await raw_mime(intake, "dana@harbor.example", f"Re: [#{t['number']}]", None)
    assert (r.json()["outcome"], r.json()["ticket_id"], r.json()["authenticated"]) == (
        "reply_added",
        t["ticket_id"],
        False,
    )


async def test_a_forged_staff_reply_to_files_nothing_for_a_victim(intake: Intake) -> None:
    forged = mime(STAFF, "Fwd: call me", "please call", headers={"Reply-To": "victim@okl.example"})
    r = await post_raw(intake, forged)
    assert r.json()["outcome"] == "unverified"
    assert [row for row in await listed(intake, "ticket_opened") if row["inbound_id"] == r.json()["inbound_id"]] == []


@pytest.mark.parametrize(
    "sender", ["x@supportdesk.example <a@evil.example>", "ann@supportdesk.example)<a@evil.example>"]
)
async def test_the_cve_address_is_not_read_as_the_staff_address(intake: Intake, sender: str) -> None:
    t = await intake.open_ticket(requester_email="dana@harbor.example")
    proven = {"Authentication-Results": "mx.supportdesk.example; dmarc=pass header.from=evil.example"}
    raw = mime("placeholder@x.example", f"Re: [#{t['number']}]", "from evil", headers=proven)
    raw = raw.replace(b"From: placeholder@x.example", b"From: " + sender.encode())
    r = await post_raw(intake, raw)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body", r.text
    assert "unambiguous" in r.json()["detail"]
    assert await replies_on(intake, t["ticket_id"]) == []
    assert r.json()["inbound_id"] in [row["inbound_id"] for row in await listed(intake, "unreadable")]
    fields = mailgun_signed({"from": sender, "sender": "a@evil.example", "subject": f"Re: [#{t['number']}]"})
    mg = await intake.client.post("/v1/inbound/email/mailgun", data=fields)
    assert mg.status_code == 406 and mg.json()["errors"][0]["field"] == "from", mg.text
    assert await replies_on(intake, t["ticket_id"]) == []
