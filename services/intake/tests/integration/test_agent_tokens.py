"""An agent signed in with the organisation's identity provider works a ticket in intake with the
provider's token instead of an API key: the response's event, on the broker, names the agent the
token names; a refused token is a 401 problem+json on both kinds of agent route (those only agents
use, and those the ticket's requester uses too)."""

from datetime import timedelta

import pytest

from supportdesk_contract.catalogue import AgentResponded
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import decode
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, read_topic
from supportdesk_devstack.testing.issuer import local_issuer, signing_key

from .conftest import running_intake

pytestmark = pytest.mark.integration


async def test_an_agents_token_is_recorded_as_that_agent_in_the_event(space: Sandbox) -> None:
    key = signing_key("desk-2026")
    with local_issuer() as issuer:
        issuer.publish(key)
        async with running_intake(space, **issuer.settings()) as intake:
            now = SystemClock().now()
            token = {"Authorization": f"Bearer {issuer.token(key, now, email='pat@supportdesk.example')}"}
            t = await intake.open_ticket()
            tid, c = t["ticket_id"], intake.client
            r = await c.post(f"/v1/tickets/{tid}/responses", json={"body": "Looking at it now"}, headers=token)
            assert r.status_code == 200, r.text
            # The agent's view of the ticket (a route requesters use too) takes the token as well.
            view = await c.get(f"/v1/tickets/{tid}", headers=token)
            assert view.status_code == 200
            assert view.json()["history"][1]["payload"]["agent"] == "pat@supportdesk.example"
            # The event on the broker, which the other services act on, names the same agent.
            events = [decode(m.value) for m in await read_topic(space, Topic.LIFECYCLE, expect=2)]
            responded = [(e.ticket_id, e.payload.agent) for e in events if isinstance(e.payload, AgentResponded)]
            assert responded == [(tid, "pat@supportdesk.example")]

            expired = issuer.token(key, now - timedelta(hours=3))
            for method, path in (("POST", "/responses"), ("GET", "")):
                body = {"body": "again"} if method == "POST" else None
                refused = {"Authorization": f"Bearer {expired}"}
                r = await c.request(method, f"/v1/tickets/{tid}{path}", json=body, headers=refused)
                assert r.status_code == 401, (path, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
                assert "expired" in r.json()["detail"]
