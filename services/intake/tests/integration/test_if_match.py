"""Commands that cannot collide, over HTTP on the real database: ETags on reads and answers,
If-Match on every command, 412 with the events the caller missed (as that caller may see them)."""

import asyncio
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from intake.adapters import repository
from intake.domain.preconditions import parse_if_match
from intake.domain.ticket import Ticket
from intake.service_layer.commands import StaleTicket, run_command
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.requester_view import REQUESTER_VISIBLE

from .conftest import Intake

pytestmark = pytest.mark.integration


async def etag_of(intake: Intake, ticket_id: str, headers: dict[str, str]) -> str:
    r = await intake.client.get(f"/v1/tickets/{ticket_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.headers["etag"]


async def test_two_agents_replying_at_once_with_the_same_if_match_exactly_one_applies(intake: Intake) -> None:
    c = intake.client
    for _ in range(3):  # a race can go either way; each round must end the same
        t = await intake.open_ticket()
        tid = t["ticket_id"]
        seen = await etag_of(intake, tid, intake.as_agent())
        assert seen == '"1"'
        ann, bob = await asyncio.gather(
            c.post(
                f"/v1/tickets/{tid}/responses",
                json={"body": "Ann: we are on it"},
                headers={**intake.as_agent(), "If-Match": seen},
            ),
            c.post(
                f"/v1/tickets/{tid}/responses",
                json={"body": "Bob: looking into it"},
                headers={**intake.as_colleague(), "If-Match": seen},
            ),
        )
        assert sorted([ann.status_code, bob.status_code]) == [200, 412], (ann.text, bob.text)
        won, lost = (ann, bob) if ann.status_code == 200 else (bob, ann)
        winner = "ann" if won is ann else "bob"
        assert won.headers["etag"] == '"2"'
        assert lost.headers["content-type"] == "application/problem+json"
        problem = lost.json()
        assert problem["status"] == 412 and problem["current_version"] == 2
        assert lost.headers["etag"] == '"2"'  # what to send next time, once the missed events are read
        [missed] = problem["missed_events"]
        assert (missed["version"], missed["event_type"], missed["by"]) == (2, "AgentResponded", winner)
        assert missed["payload"]["body"] == {"ann": "Ann: we are on it", "bob": "Bob: looking into it"}[winner]
        assert missed["occurred_at"]
        history = (await c.get(f"/v1/tickets/{tid}", headers=intake.as_agent())).json()["history"]
        assert [h["event_type"] for h in history].count("AgentResponded") == 1  # the loser's never applied


async def test_a_retry_after_a_lost_race_checks_if_match_again(intake: Intake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two writers that both slipped past the row lock: the loser's append is refused by the stream
    version, and its retry, on fresh state, must answer stale rather than apply."""
    t = await intake.open_ticket()
    tid = t["ticket_id"]
    unlocked, loads, both_loaded = repository.load, 0, asyncio.Barrier(2)

    async def load_without_the_lock(conn: AsyncConnection, ticket_id: str, *, lock: bool = True) -> Ticket | None:
        nonlocal loads
        loads += 1
        ticket = await unlocked(conn, ticket_id, lock=False)
        if loads <= 2:  # the first two attempts both read version 1 before either appends
            await both_loaded.wait()
        return ticket

    monkeypatch.setattr(repository, "load", load_without_the_lock)
    seen = parse_if_match('"1"')
    results = await asyncio.gather(
        *[
            run_command(intake.engine, tid, lambda t, who=who: t.respond(who, f"{who} here"), SystemClock(), seen)
            for who in ("ann", "bob")
        ],
        return_exceptions=True,
    )
    assert loads == 3  # the loser ran again
    [applied] = [r for r in results if isinstance(r, Ticket)]
    [stale] = [r for r in results if isinstance(r, StaleTicket)]
    assert applied.version == stale.current_version == 2
    assert [e["event_type"] for _, e in stale.missed] == ["AgentResponded"]
    history = (await intake.client.get(f"/v1/tickets/{tid}", headers=intake.as_agent())).json()["history"]
    assert [h["event_type"] for h in history].count("AgentResponded") == 1


async def test_a_stale_requester_reply_shows_only_what_the_requester_may_see(intake: Intake) -> None:
    t = await intake.open_ticket()
    tid, c, agent = t["ticket_id"], intake.client, intake.as_agent()
    requester = intake.as_requester(t["access_token"])
    seen = await etag_of(intake, tid, requester)
    await c.post(f"/v1/tickets/{tid}/responses", json={"body": "internal: grumpy", "public": False}, headers=agent)
    await c.post(f"/v1/tickets/{tid}/severity", json={"severity": 1, "reason": "VIP, say nothing"}, headers=agent)
    await c.post(f"/v1/tickets/{tid}/info-requests", json={"question": "Which browser?"}, headers=agent)
    r = await c.post(f"/v1/tickets/{tid}/replies", json={"body": "Firefox"}, headers={**requester, "If-Match": seen})
    assert r.status_code == 412, r.text
    problem = r.json()
    assert problem["current_version"] == 5
    missed = problem["missed_events"]
    # The internal note (version 2) is not there at all; the severity's reason is cut.
    assert [(e["version"], e["event_type"]) for e in missed] == [
        (3, "SeverityChanged"),
        (4, "AgentResponded"),
        (5, "InfoRequested"),
    ]
    for e in missed:
        assert set(e["payload"]) <= REQUESTER_VISIBLE[e["event_type"]].fields, e
    assert "grumpy" not in r.text and "VIP" not in r.text
    assert [e["by"] for e in missed] == [None, "ann", "ann"]  # who changed the severity is the agents' to see
    assert missed[2]["payload"]["question"] == "Which browser?"
    view = (await c.get(f"/v1/tickets/{tid}", headers=requester)).json()
    assert "CustomerReplied" not in [h["event_type"] for h in view["history"]]  # nothing applied

    # An agent with the same stale version sees everything, as the agents' read shows it.
    r = await c.post(f"/v1/tickets/{tid}/responses", json={"body": "late"}, headers={**agent, "If-Match": '"1"'})
    assert r.status_code == 412
    agents_view: list[dict[str, Any]] = r.json()["missed_events"]
    assert [e["event_type"] for e in agents_view] == [
        "AgentResponded",
        "SeverityChanged",
        "AgentResponded",
        "InfoRequested",
    ]
    assert agents_view[0]["payload"]["public"] is False and agents_view[0]["payload"]["body"] == "internal: grumpy"
    assert (agents_view[1]["by"], agents_view[1]["payload"]["reason"]) == ("ann", "VIP, say nothing")

    # With the version it has now, the requester's reply applies.
    now = await etag_of(intake, tid, requester)
    r = await c.post(f"/v1/tickets/{tid}/replies", json={"body": "Firefox"}, headers={**requester, "If-Match": now})
    assert r.status_code == 200, r.text


async def test_the_etag_moves_with_every_command_and_chains_them(intake: Intake) -> None:
    t = await intake.open_ticket()
    tid, c, agent = t["ticket_id"], intake.client, intake.as_agent()
    requester = intake.as_requester(t["access_token"])
    steps = [
        ("/responses", {"body": "We are on it"}, agent),
        ("/info-requests", {"question": "Which browser?"}, agent),
        ("/replies", {"body": "Firefox 140"}, requester),
        ("/severity", {"severity": 2, "reason": "many users"}, agent),
        ("/escalation-requests", {"reason": "slow"}, requester),
        ("/replication", {"note": "reproduced"}, agent),
        ("/workarounds", {"description": "use XLSX"}, agent),
        ("/confirmation", None, requester),
        ("/reopen", {"reason": "it is back"}, requester),
        ("/close", {"closure_code": "workaround_accepted"}, agent),
    ]
    seen = [await etag_of(intake, tid, agent)]
    for path, body, who in steps:
        before = await etag_of(intake, tid, who)
        assert before == seen[-1]  # the requester's read and the agents' read agree
        r = await c.post(f"/v1/tickets/{tid}{path}", json=body, headers={**who, "If-Match": before})
        assert r.status_code == 200, (path, r.text)
        assert r.headers["etag"] == f'"{r.json()["version"]}"' != before, path
        assert await etag_of(intake, tid, agent) == r.headers["etag"], path
        seen.append(r.headers["etag"])
    assert len(set(seen)) == len(seen)


async def test_without_if_match_or_with_a_star_a_command_applies_as_before(intake: Intake) -> None:
    t = await intake.open_ticket()
    tid, c, agent = t["ticket_id"], intake.client, intake.as_agent()
    r = await c.post(f"/v1/tickets/{tid}/responses", json={"body": "old client"}, headers=agent)
    assert (r.status_code, r.headers["etag"]) == (200, '"2"')
    r = await c.post(f"/v1/tickets/{tid}/responses", json={"body": "any version"}, headers={**agent, "If-Match": "*"})
    assert (r.status_code, r.headers["etag"]) == (200, '"3"')
    r = await c.post(f"/v1/tickets/{tid}/responses", json={"body": "either"}, headers={**agent, "If-Match": '"1", "3"'})
    assert (r.status_code, r.headers["etag"]) == (200, '"4"')


@pytest.mark.parametrize("header", ["3", 'W/"1"', '"abc"', ""])
async def test_a_malformed_if_match_is_422_naming_the_header(intake: Intake, header: str) -> None:
    t = await intake.open_ticket()
    tid, c, agent = t["ticket_id"], intake.client, intake.as_agent()
    r = await c.post(f"/v1/tickets/{tid}/responses", json={"body": "x"}, headers={**agent, "If-Match": header})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "header.if-match"
    assert await etag_of(intake, tid, agent) == '"1"'  # nothing applied
