"""Intake's ticket read as of an instant, against the same read taken live at that instant: a ticket
goes through its phases on a clock the test moves; after each command the test reads the ticket
(as the agent and as the requester) and notes the instant; at the end it asks for each as of then."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supportdesk_contract.clock import ManualClock
from supportdesk_devstack.testing import Sandbox

from .conftest import running_intake

pytestmark = pytest.mark.integration


async def test_the_ticket_as_of_each_instant_is_what_it_was_then(space: Sandbox) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    async with running_intake(space, clock) as intake:
        c, agent = intake.client, intake.as_agent()
        opened = await intake.open_ticket()
        tid, requester = opened["ticket_id"], intake.as_requester(opened["access_token"])
        steps: list[tuple[str, dict[str, Any] | None, dict[str, str]]] = [
            ("/responses", {"body": "We are on it"}, agent),
            ("/info-requests", {"question": "Which browser?"}, agent),
            ("/replies", {"body": "Firefox 140"}, requester),
            ("/severity", {"severity": 2, "reason": "blocks the month-end close"}, agent),
            ("/close", {"closure_code": "usage_information_provided"}, agent),
            ("/reopen", {"reason": "it is back"}, requester),
        ]
        live: list[tuple[datetime, dict[str, Any], dict[str, Any]]] = []

        async def snapshot() -> None:
            as_agent = await c.get(f"/v1/tickets/{tid}", headers=agent)
            as_requester = await c.get(f"/v1/tickets/{tid}", headers=requester)
            assert as_agent.status_code == as_requester.status_code == 200
            live.append((clock.now(), as_agent.json(), as_requester.json()))

        await snapshot()
        for path, body, who in steps:
            clock.set(clock.now() + timedelta(minutes=7))
            r = await c.post(f"/v1/tickets/{tid}{path}", json=body, headers=who)
            assert r.status_code == 200, (path, r.text)
            await snapshot()
        assert [v[1]["status"] for v in live] == [
            "new",
            "acknowledged",
            "awaiting_customer",
            "acknowledged",
            "acknowledged",
            "closed",
            "new",
        ]

        for at, as_agent, as_requester in live:
            for who, expected in ((agent, as_agent), (requester, as_requester)):
                # And a little later: between two commands nothing changed.
                for when in (at, at + timedelta(minutes=3)):
                    r = await c.get(f"/v1/tickets/{tid}", params={"as_of": when.isoformat()}, headers=who)
                    assert r.status_code == 200, r.text
                    assert r.json() == expected, when

        before = await c.get(f"/v1/tickets/{tid}", params={"as_of": "2026-03-02T08:59:59Z"}, headers=agent)
        assert (before.status_code, before.headers["content-type"]) == (404, "application/problem+json")
        naive = await c.get(f"/v1/tickets/{tid}", params={"as_of": "2026-03-02T09:00:00"}, headers=agent)
        assert (naive.status_code, naive.headers["content-type"]) == (422, "application/problem+json")
