"""Long text cannot stop the pipeline: a 100,000-emoji web description and a 2 MB raw email are
processed, and the tickets after them still reach triage (intake and triage as real processes)."""

import base64
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest

from supportdesk_contract.catalogue import EXCERPT_CHARS, MAX_EVENT_BYTES
from supportdesk_contract.envelope import decode
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import TEST_API_KEY, RunningService, Sandbox, eventually, read_topic
from supportdesk_messaging.personal import Keyring

pytestmark = pytest.mark.e2e

INBOUND = {"Authorization": "Basic " + base64.b64encode(b"inbound:s3cret").decode()}
ADMIN = {"Authorization": "Bearer admin-key"}


def long_email(body: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "dana@customer.example", "support@supportdesk.example", "Logs attached"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@customer.example>"
    msg.set_content(body)
    return bytes(msg)


async def test_a_huge_description_and_a_2mb_email_are_processed_and_later_tickets_still_reach_triage(
    services: Callable[..., RunningService], space: Sandbox
) -> None:
    intake = services("intake", INTAKE_INBOUND_BASIC_AUTH="inbound:s3cret", INTAKE_ADMIN_API_KEYS="admin-key")
    triage = services("triage")
    emoji = "\U0001f600" * 100_000  # 400 KB of UTF-8; 1.2 MB as \\u escapes
    log_lines = "".join(
        f"10:00:{n % 60:02d}Z worker-{n % 7} export row {n} failed: ü (a long log)\n" for n in range(40_000)
    )
    assert len(log_lines.encode()) > 2_000_000
    opened: list[str] = []
    async with intake.client(api_key=None) as web:
        r = await web.post(
            "/v1/tickets",
            json={"requester_email": "dana@customer.example", "subject": "Emoji", "description": emoji},
        )
        assert r.status_code == 202, r.text
        opened.append(r.json()["ticket_id"])
        raw = long_email(log_lines)
        assert len(raw) > 2_000_000
        r = await web.post("/v1/inbound/email", content=raw, headers={**INBOUND, "Content-Type": "message/rfc822"})
        assert r.status_code in (200, 201, 202), r.text
        assert r.json()["outcome"] == "ticket_opened"
        opened.append(r.json()["ticket_id"])
        for n in range(5):  # ordinary tickets after them
            r = await web.post(
                "/v1/tickets",
                json={"requester_email": "lee@customer.example", "subject": f"Later {n}", "description": "short"},
            )
            assert r.status_code == 202, r.text
            opened.append(r.json()["ticket_id"])

    async with triage.client() as agent:

        async def all_triaged() -> bool:
            for ticket_id in opened:
                if (await agent.get(f"/v1/tickets/{ticket_id}/triage")).status_code != 200:
                    return False
            return True

        await eventually(all_triaged, timeout=60, what="every ticket, long ones and later ones, triaged")

    # On Kafka: bounded events, each with the excerpt (sealed under the requester's key: opened
    # here as the board would) and the whole text's reference.
    got = await read_topic(space, Topic.LIFECYCLE, expect=len(opened), timeout=30)
    by_ticket = {m.key.decode(): m for m in got}
    sent = log_lines.rstrip("\n")  # the mail parser drops the body's final newline
    keyring = Keyring(space.servers.bootstrap_servers, space.prefix)
    try:
        for ticket_id, whole in ((opened[0], emoji), (opened[1], sent)):
            message = by_ticket[ticket_id]
            assert len(message.value) < MAX_EVENT_BYTES
            payload: Any = (await keyring.open(decode(message.value))).payload
            assert payload.description == whole[:EXCERPT_CHARS]
            assert payload.full_text["description"].length == len(whole)
    finally:
        await keyring.close()
    # Sealed as UTF-8, not \\u escapes: 4,000 emoji are 16 KB, base64 about 21 KB (escaped: 64 KB).
    assert len(by_ticket[opened[0]].value) < 30_000

    # The ticket read resolves the reference: the whole text, as sent.
    async with intake.client(api_key=TEST_API_KEY) as agent:
        for ticket_id, whole in ((opened[0], emoji), (opened[1], sent)):
            view = (await agent.get(f"/v1/tickets/{ticket_id}")).json()
            assert view["history"][0]["payload"]["description"] == whole
        parked = await agent.get("/v1/ops/outbox/parked", headers=ADMIN)
        assert parked.status_code == 200, parked.text
        assert parked.json() == {"parked": []}
