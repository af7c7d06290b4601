"""Reading attachments: for agents and the requester's token, downloads only, with ranges."""

import hashlib
import uuid
from email.message import EmailMessage
from typing import Any

import pytest

from intake.adapters.attachment_cache import attachment_cache_dir
from supportdesk_messaging.sealing import unseal

from .conftest import TOKEN_KEY, Intake
from .test_email import post_raw, ticket

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-key"}
PDF = b"%PDF-1.4 " + bytes(range(256)) * 40  # 10,249 bytes, binary
PAGE = b"<html><script>alert(document.cookie)</script></html>"


def mail_with(sender: str, *files: tuple[str, str, bytes]) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "support@supportdesk.example", "Files attached"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@mail.example>"
    msg.set_content("see attached")
    for name, content_type, content in files:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return bytes(msg)


async def mailed_ticket(intake: Intake, sender: str, *files: tuple[str, str, bytes]) -> tuple[dict[str, Any], str]:
    r = await post_raw(intake, mail_with(sender, *files))
    assert r.status_code == 201, r.text
    t = await ticket(intake, r.json()["ticket_id"])
    token = unseal(TOKEN_KEY, t["history"][0]["payload"]["requester_token_sealed"])
    assert token is not None
    return t, token


async def test_an_attachment_is_listed_and_downloaded_by_agent_and_requester_with_ranges(intake: Intake) -> None:
    t, token = await mailed_ticket(intake, "dana@harbor.example", ("trace.pdf", "application/pdf", PDF))
    digest = hashlib.sha256(PDF).hexdigest()
    url = f"/v1/tickets/{t['ticket_id']}/attachments/{digest}"
    assert t["attachments"] == [
        {"name": "trace.pdf", "content_type": "application/pdf", "size": len(PDF), "sha256": digest, "url": url}
    ]
    for who in (intake.as_agent(), intake.as_requester(token)):
        r = await intake.client.get(url, headers=who)
        assert r.status_code == 200 and r.content == PDF
        assert r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"] == 'attachment; filename="trace.pdf"'
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["accept-ranges"] == "bytes"

    part = await intake.client.get(url, headers={**intake.as_requester(token), "Range": "bytes=9-264"})
    assert part.status_code == 206 and part.content == PDF[9:265]
    assert part.headers["content-range"] == f"bytes 9-264/{len(PDF)}"
    tail = await intake.client.get(url, headers={**intake.as_agent(), "Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == PDF[-100:]
    beyond = await intake.client.get(url, headers={**intake.as_agent(), "Range": f"bytes={len(PDF) + 10}-"})
    assert beyond.status_code == 416 and beyond.headers["content-type"] == "application/problem+json"
    assert beyond.headers["content-range"] == f"bytes */{len(PDF)}"
    assert beyond.json()["errors"][0]["field"] == "header.range"


async def test_html_and_executables_are_never_served_inline(intake: Intake) -> None:
    exe = b"MZ\x90\x00 not really a program"
    t, token = await mailed_ticket(
        intake,
        "erin@harbor.example",
        ("page.html", "text/html", PAGE),
        ("setup.exe", "application/x-msdownload", exe),
    )
    for name, content in (("page.html", PAGE), ("setup.exe", exe)):
        r = await intake.client.get(
            f"/v1/tickets/{t['ticket_id']}/attachments/{hashlib.sha256(content).hexdigest()}",
            headers=intake.as_requester(token),
        )
        assert r.status_code == 200 and r.content == content
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"] == f'attachment; filename="{name}"'
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]


async def test_only_the_tickets_own_attachments_and_only_for_its_people(intake: Intake) -> None:
    mine, my_token = await mailed_ticket(intake, "dana@harbor.example", ("trace.pdf", "application/pdf", PDF))
    other, other_token = await mailed_ticket(intake, "eve@else.example", ("notes.pdf", "application/pdf", b"%PDF eve"))
    digest = hashlib.sha256(PDF).hexdigest()
    cases = [
        (mine["ticket_id"], digest, intake.as_requester(other_token)),  # someone else's token
        (mine["ticket_id"], digest, {}),  # nobody
        (other["ticket_id"], digest, intake.as_agent()),  # stored, but not this ticket's
        (other["ticket_id"], digest, intake.as_requester(other_token)),
        (mine["ticket_id"], "0" * 64, intake.as_agent()),
        (mine["ticket_id"], "../../etc/passwd", intake.as_agent()),
        (mine["ticket_id"], digest.upper(), intake.as_agent()),
    ]
    for ticket_id, sha, who in cases:
        r = await intake.client.get(f"/v1/tickets/{ticket_id}/attachments/{sha}", headers=who)
        assert r.status_code == 404, (ticket_id, sha, r.status_code)
        assert r.headers["content-type"] == "application/problem+json"
    ok = await intake.client.get(
        f"/v1/tickets/{mine['ticket_id']}/attachments/{digest}", headers=intake.as_requester(my_token)
    )
    assert ok.status_code == 200


async def test_erasing_the_requester_removes_their_file_from_the_database_and_the_download_cache(
    intake: Intake,
) -> None:
    sender = "kim@harbor.example"
    t, _ = await mailed_ticket(intake, sender, ("trace.pdf", "application/pdf", PDF))
    digest = hashlib.sha256(PDF).hexdigest()
    url = f"/v1/tickets/{t['ticket_id']}/attachments/{digest}"
    assert (await intake.client.get(url, headers=intake.as_agent())).status_code == 200
    cached = attachment_cache_dir(intake.settings.database_name, intake.settings.attachment_cache_dir) / digest
    assert cached.read_bytes() == PDF  # served from here, with ranges

    found = (await intake.client.get("/v1/requesters", params={"email": sender}, headers=ADMIN)).json()
    erased = await intake.client.post(f"/v1/requesters/{found[0]['requester_id']}/erasure", headers=ADMIN)
    assert erased.status_code == 200, erased.text
    assert not cached.exists()
    assert (await intake.client.get(url, headers=intake.as_agent())).status_code == 404
