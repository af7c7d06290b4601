"""The reasons a requester writes (reopening, asking to escalate) go to the broker sealed under
their data key, as their replies do: nothing of the words in clear on Kafka or in the outbox, and
intake's own read opens them."""

import pytest
from sqlalchemy import text

from supportdesk_contract.catalogue import EscalationRequested, TicketReopened
from supportdesk_contract.envelope import decode
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, read_topic

from .conftest import Intake

pytestmark = pytest.mark.integration
ESCALATE = "Mara Quill here: payroll for 4,000 people is blocked"
REOPEN = "Mara again: it broke after the update, call 555 0100"


async def test_a_requesters_reasons_travel_sealed(intake: Intake, space: Sandbox) -> None:
    t = await intake.open_ticket(requester_email="mara.quill@customer.example")
    tid, mine = t["ticket_id"], intake.as_requester(t["access_token"])
    c = intake.client
    r = await c.post(f"/v1/tickets/{tid}/escalation-requests", json={"reason": ESCALATE}, headers=mine)
    assert r.status_code == 200, r.text
    closed = await c.post(
        f"/v1/tickets/{tid}/close", json={"closure_code": "third_party_issue"}, headers=intake.as_agent()
    )
    assert closed.status_code == 200, closed.text
    assert (await c.post(f"/v1/tickets/{tid}/reopen", json={"reason": REOPEN}, headers=mine)).status_code == 200

    messages = await read_topic(space, Topic.LIFECYCLE, expect=4)
    assert not [m for m in messages if b"Mara" in m.value or b"555 0100" in m.value]
    written = [decode(m.value).payload for m in messages]
    reasons = [p for p in written if isinstance(p, EscalationRequested | TicketReopened)]
    assert len(reasons) == 2 and all(p.reason == "" and p.sealed_personal and p.requester_id for p in reasons)
    async with intake.engine.connect() as conn:
        clear = (await conn.execute(text("SELECT count(*) FROM events WHERE envelope::text LIKE '%Mara%'"))).scalar()
    assert clear == 0

    view = (await c.get(f"/v1/tickets/{tid}", headers=mine)).json()
    shown = {h["event_type"]: h["payload"].get("reason") for h in view["history"]}
    assert (shown["EscalationRequested"], shown["TicketReopened"]) == (ESCALATE, REOPEN)
