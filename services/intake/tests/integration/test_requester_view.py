"""`GET /v1/tickets/{id}` with the requester's token: public events and fields only
(requesters once saw `public: false` responses and `requester_token_sealed`)."""

import pytest

from .conftest import Intake

pytestmark = pytest.mark.integration


async def test_the_requester_never_sees_internal_notes_or_the_sealed_token(intake: Intake) -> None:
    t = await intake.open_ticket()
    tid, c = t["ticket_id"], intake.client
    for body in [
        {"body": "Internal: customer is on an old build, do not tell them", "public": False},
        {"body": "We are on it", "public": True},
    ]:
        r = await c.post(f"/v1/tickets/{tid}/responses", json=body, headers=intake.as_agent())
        assert r.status_code == 200, r.text

    mine = await c.get(f"/v1/tickets/{tid}", headers=intake.as_requester(t["access_token"]))
    assert mine.status_code == 200
    assert "Internal:" not in mine.text and "requester_token_sealed" not in mine.text
    assert [(h["event_type"], h["payload"].get("body")) for h in mine.json()["history"]] == [
        ("TicketOpened", None),
        ("AgentResponded", "We are on it"),
    ]
    assert mine.json()["history"][0]["payload"]["subject"] == "Export fails"

    agent = (await c.get(f"/v1/tickets/{tid}", headers=intake.as_agent())).json()
    bodies = [h["payload"].get("body") for h in agent["history"] if h["event_type"] == "AgentResponded"]
    assert bodies == ["Internal: customer is on an old build, do not tell them", "We are on it"]
