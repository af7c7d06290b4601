"""Lifecycle commands over HTTP on the real database: transitions, 409s, concurrency, isolation."""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from supportdesk_contract.catalogue import AutoCloseDue, ClockKind, ClosureCode
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, produce

from .conftest import Intake

pytestmark = pytest.mark.integration


async def test_a_ticket_through_every_phase_and_back(intake: Intake) -> None:
    t = await intake.open_ticket()
    tid, token, c = t["ticket_id"], t["access_token"], intake.client
    agent, requester = intake.as_agent(), intake.as_requester(t["access_token"])
    steps = [
        ("/responses", {"body": "We are on it"}, agent, "acknowledged"),
        ("/info-requests", {"question": "Which browser?"}, agent, "awaiting_customer"),
        ("/replies", {"body": "Firefox 140"}, requester, "acknowledged"),
        ("/replication", {"note": "reproduced on staging"}, agent, "analysis"),
        ("/workarounds", {"description": "Export as XLSX meanwhile"}, agent, "monitor"),
        ("/confirmation", None, requester, "closed"),
        ("/reopen", {"reason": "it is back"}, requester, "new"),
    ]
    for path, body, who, status in steps:
        r = await c.post(f"/v1/tickets/{tid}{path}", json=body, headers=who)
        assert r.status_code == 200, (path, r.text)
        assert r.json()["status"] == status, path
    view = (await c.get(f"/v1/tickets/{tid}", headers=intake.as_requester(token))).json()
    assert [h["event_type"] for h in view["history"]] == [
        "TicketOpened",
        "AgentResponded",
        "InfoRequested",
        "CustomerReplied",
        "IssueReplicated",
        "WorkaroundDelivered",
        "ResolutionConfirmed",
        "TicketClosed",
        "TicketReopened",
    ]
    assert view["history"][1]["payload"]["agent"] == "ann"  # who acted comes from the key, not the body
    assert view["history"][7]["payload"]["closure_code"] == "customer_confirmed"
    assert (view["status"], view["cycle"], view["version"]) == ("new", 2, 9)


async def test_impossible_transitions_answer_409_with_the_current_state(intake: Intake) -> None:
    t = await intake.open_ticket()
    tid, c = t["ticket_id"], intake.client
    r = await c.post(f"/v1/tickets/{tid}/confirmation", headers=intake.as_requester(t["access_token"]))
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert (r.json()["current_status"], r.json()["current_version"]) == ("new", 1)
    r = await c.post(f"/v1/tickets/{tid}/close", json={"closure_code": "resolved-ish"}, headers=intake.as_agent())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.closure_code"
    r = await c.post(f"/v1/tickets/{tid}/replies", json={"body": "x"}, headers=intake.as_agent())
    assert r.status_code == 403  # agents respond; replies are the requester's
    await c.post(f"/v1/tickets/{tid}/workarounds", json={"description": "restart it"}, headers=intake.as_agent())
    r = await c.post(f"/v1/tickets/{tid}/confirmation", headers=intake.as_agent())
    assert r.status_code == 403  # only the requester confirms; agents close with a closure code
    assert r.headers["content-type"] == "application/problem+json"
    view = (await c.get(f"/v1/tickets/{tid}", headers=intake.as_agent())).json()
    assert view["status"] == "monitor"
    assert (await c.post(f"/v1/tickets/{tid}/responses", json={"body": "x"})).status_code == 401


async def test_concurrent_commands_are_serialised_never_both_applied(intake: Intake) -> None:
    t = await intake.open_ticket()
    tid, c, agent = t["ticket_id"], intake.client, intake.as_agent()
    await c.post(f"/v1/tickets/{tid}/responses", json={"body": "hello"}, headers=agent)
    replications = await asyncio.gather(
        *[c.post(f"/v1/tickets/{tid}/replication", json={"note": str(i)}, headers=agent) for i in range(8)]
    )
    assert sorted(r.status_code for r in replications) == [200] + [409] * 7
    responses = await asyncio.gather(
        *[c.post(f"/v1/tickets/{tid}/responses", json={"body": str(i)}, headers=agent) for i in range(8)]
    )
    assert all(r.status_code == 200 for r in responses)
    assert sorted(r.json()["version"] for r in responses) == list(range(4, 12))  # one after another, none lost
    history = (await c.get(f"/v1/tickets/{tid}", headers=agent)).json()["history"]
    assert [h["event_type"] for h in history].count("IssueReplicated") == 1


async def test_a_requester_reaches_only_their_own_ticket(intake: Intake) -> None:
    mine, theirs = await intake.open_ticket(), await intake.open_ticket(requester_email="eve@else.example")
    c = intake.client
    for path, body in (("", None), ("/replies", {"body": "x"}), ("/escalation-requests", {"reason": "x"})):
        method = c.get if body is None else c.post
        kwargs = {} if body is None else {"json": body}
        r = await method(
            f"/v1/tickets/{mine['ticket_id']}{path}", headers=intake.as_requester(theirs["access_token"]), **kwargs
        )
        assert r.status_code == 404, path
    r = await c.post(
        f"/v1/tickets/{mine['ticket_id']}/escalation-requests",
        json={"reason": "no progress"},
        headers=intake.as_requester(mine["access_token"]),
    )
    assert r.status_code == 200


async def test_auto_close_due_from_sla_clock_closes_a_ticket_still_waiting(space: Sandbox, intake: Intake) -> None:
    c, agent = intake.client, intake.as_agent()
    waiting, answered = await intake.open_ticket(), await intake.open_ticket()
    for t in (waiting, answered):
        await c.post(f"/v1/tickets/{t['ticket_id']}/info-requests", json={"question": "logs?"}, headers=agent)
    await c.post(
        f"/v1/tickets/{answered['ticket_id']}/replies",
        json={"body": "here"},
        headers=intake.as_requester(answered["access_token"]),
    )
    due = AutoCloseDue(
        clock=ClockKind.AWAITING_CUSTOMER_AUTO_CLOSE, cycle=1, closure_code=ClosureCode.NO_CUSTOMER_RESPONSE
    )
    envs = [
        new_envelope(due, ticket_id=t["ticket_id"], producer="sla-clock", clock=SystemClock())
        for t in (waiting, answered)
    ]
    await produce(space, Topic.SLA, [encode(e)[:2] for e in envs + envs])  # and each delivered twice

    async def status(t: dict) -> str:  # type: ignore[type-arg]
        return str((await c.get(f"/v1/tickets/{t['ticket_id']}", headers=agent)).json()["status"])

    async def closed() -> bool:
        return await status(waiting) == "closed"

    await eventually(closed, what="the silent ticket closed")

    async def consumed_all() -> bool:
        async with intake.app.state.runtime.engine.connect() as conn:
            return (await conn.execute(text("SELECT count(*) FROM inbox"))).scalar_one() == 2

    await eventually(consumed_all, what="both AutoCloseDue consumed")
    # The customer answered, so the timer no longer applied: back where the wait began, not closed.
    assert await status(answered) == "acknowledged"
    answered_history = (await c.get(f"/v1/tickets/{answered['ticket_id']}", headers=agent)).json()["history"]
    assert "TicketClosed" not in [h["event_type"] for h in answered_history]
    history = (await c.get(f"/v1/tickets/{waiting['ticket_id']}", headers=agent)).json()["history"]
    closes = [h for h in history if h["event_type"] == "TicketClosed"]
    assert [h["payload"]["closure_code"] for h in closes] == ["no_customer_response"]
    assert datetime.fromisoformat(closes[0]["occurred_at"]) <= datetime.now(UTC)


async def test_the_same_web_submission_with_an_idempotency_key_is_one_ticket(intake: Intake) -> None:
    body = {"requester_email": "dana@customer.example", "subject": "Export fails", "description": "Empty CSV"}
    first = await intake.client.post("/v1/tickets", json=body, headers={"Idempotency-Key": "form-42"})
    again = await intake.client.post("/v1/tickets", json=body, headers={"Idempotency-Key": "form-42"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["ticket_id"] == first.json()["ticket_id"] and again.json()["access_token"] is None
    other = await intake.client.post(
        "/v1/tickets", json={**body, "subject": "x"}, headers={"Idempotency-Key": "form-42"}
    )
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "header.idempotency-key"
    without = await intake.client.post("/v1/tickets", json=body)
    assert without.json()["ticket_id"] != first.json()["ticket_id"]


async def test_a_web_form_ticket_says_its_requester_is_unproven(intake: Intake) -> None:
    # Anyone can type any address into the form: escalation must not page SWAT or on-call on it.
    t = await intake.open_ticket(severity=1)
    read = await intake.client.get(f"/v1/tickets/{t['ticket_id']}", headers=intake.as_agent())
    opened = read.json()["history"][0]["payload"]
    assert (opened["severity"], opened["requester_verified"]) == (1, False)
