"""The board as `make run` serves it (a real process), on the real broker and database: the test
plays the five other services, writing their events to Kafka, and reads the board's HTTP API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from supportdesk_contract.catalogue import (
    AgentResponded,
    ClockKind,
    ClosureCode,
    NotificationSent,
    Priority,
    PriorityChanged,
    SlaBreached,
    SlaMet,
    TicketClosed,
)
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import RunningService, Sandbox, eventually, produce
from supportdesk_devstack.testing.events import opened, triaged

from .board_scenario import NOW, OPENED, TRIAGED, M, _counts_agree, kept_and_counted, list_ids, scenario, send, settled

pytestmark = pytest.mark.integration


async def test_events_in_reads_out(space: Sandbox, services: Callable[..., RunningService]) -> None:
    svc = services("board")
    ids = await scenario(space)
    async with svc.client() as board:
        await eventually(lambda: settled(board, ids), what="the board to fold every ticket")
        # next due first; a breached (past-due) ticket is first, tickets without a due last
        assert await list_ids(board, queue="technical", status="new") == [ids["login"], ids["export"], ids["slow"]]
        assert await list_ids(board, priority="urgent") == [ids["login"]]
        assert await list_ids(board, customer="globex", sort="opened") == sorted(
            [ids["billing"], ids["slow"]], reverse=True
        )
        assert await list_ids(board, breached="true") == [ids["login"]]
        assert await list_ids(board, at_risk_within=1800) == [ids["export"]]
        assert await list_ids(board, escalation_level=2) == [ids["login"]]
        assert await list_ids(board, sort="priority", queue="billing") == [ids["invoice"], ids["billing"]]
        # full text: stems of subject and description, the exact number, the requester's address
        assert await list_ids(board, q="export") == [ids["export"]]
        assert await list_ids(board, q="invoices") == [ids["invoice"], ids["billing"]]
        assert await list_ids(board, q="TKT-104") == [ids["slow"]]
        assert await list_ids(board, q="tkt-104") == [ids["slow"]]
        assert await list_ids(board, q="BO@acme.example") == [ids["login"]]
        assert await list_ids(board, q="sso log") == [ids["login"]]

        # keyset pages of two: every ticket once, in order, however the pages fall
        for sort in ("next_due", "updated", "priority", "opened"):
            whole = await list_ids(board, sort=sort, limit=200)
            pages: list[str] = []
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"sort": sort, "limit": 2, **({"cursor": cursor} if cursor else {})}
                r = (await board.get("/v1/board/tickets", params=params)).json()
                pages += [t["ticket_id"] for t in r["tickets"]]
                cursor = r["next_cursor"]
                if cursor is None:
                    break
            assert pages == whole, sort

        detail = (await board.get(f"/v1/board/tickets/{ids['login']}")).json()
        # Every topic but the people's, which are about no ticket.
        assert {e["topic"] for e in detail["timeline"]} == {t.value for t in Topic} - {Topic.PEOPLE.value}
        lines = [(e["event_type"], e["actor"]) for e in detail["timeline"]]
        assert ("EscalationAcknowledged", "am@sd.example") in lines
        assert any("policy data-insights@1" in e["summary"] for e in detail["timeline"])
        assert any("rule web-default" in e["summary"] for e in detail["timeline"])
        assert (detail["escalation_level"], detail["escalation_holder"]) == (2, "am@sd.example")

        summary = (await board.get("/v1/board/summary")).json()
        open_counts = {(r["queue"], r["priority"], r["status"]): r["tickets"] for r in summary["open"]}
        assert open_counts[("billing", "normal", "acknowledged")] == 1
        assert open_counts[("technical", "urgent", "new")] == 1
        assert (summary["breached_open"], summary["at_risk"]) == (1, 1)
        assert summary["escalations_by_level"] == [{"level": 2, "tickets": 1}]
        week = {(r["plan"], r["priority"]): r for r in summary["attainment"]["week"]["rows"]}
        assert week[("gold", "urgent")]["met_percent"] == 0.0
        assert week[("gold", "normal")]["met_percent"] == 100.0
        await _attainment_agrees(space)

        # the problem+json answers
        bad = await board.get("/v1/board/tickets", params={"cursor": "not-a-cursor"})
        assert (bad.status_code, bad.headers["content-type"]) == (422, "application/problem+json")
        assert bad.json()["errors"][0]["field"] == "query.cursor"
        bad = await board.get("/v1/board/tickets", params={"sort": "random"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.sort"
        assert (await board.get("/v1/board/tickets/nope")).status_code == 404
    async with svc.client(api_key=None) as anonymous:
        assert (await anonymous.get("/v1/board/tickets")).status_code == 401


async def test_redelivered_events_count_once(space: Sandbox, services: Callable[..., RunningService]) -> None:
    svc = services("board")
    ticket = f"tkt-dup-{uuid.uuid4().hex[:6]}"
    await send(
        space,
        ticket,
        Topic.LIFECYCLE,
        "intake",
        opened(
            number="TKT-9", subject="Printer on fire", requester_email="fi@acme.example", customer_id="acme", **OPENED
        ),
    )
    values = await send(
        space,
        ticket,
        Topic.NOTIFICATIONS,
        "notifier",
        NotificationSent(cause_event_id=uuid.uuid4(), recipient="fi", channel="email", template="ack", sent_at=NOW),
    )
    await produce(space, Topic.NOTIFICATIONS, [(ticket.encode(), v) for v in values])  # at-least-once: again
    await send(
        space, ticket, Topic.LIFECYCLE, "intake", AgentResponded(agent="bob", body="on it", confirms_receipt=True)
    )
    async with svc.client() as board:

        async def answered() -> Any:
            r = await board.get(f"/v1/board/tickets/{ticket}")
            return r.json() if r.status_code == 200 and r.json()["status"] == "acknowledged" else None

        await eventually(answered, what="the ticket acknowledged")
        await asyncio.sleep(1.0)  # the duplicate, on its own topic, has had time to arrive too
        detail = (await board.get(f"/v1/board/tickets/{ticket}")).json()
        # The summary's counts follow the ticket through triage and closing.
        await send(space, ticket, Topic.TRIAGE, "triage", triaged(priority=Priority.HIGH, queue="technical", **TRIAGED))

        async def counted(expected: list[dict[str, Any]]) -> bool:
            return bool((await board.get("/v1/board/summary")).json()["open"] == expected)

        one = [{"queue": "technical", "priority": "high", "status": "acknowledged", "tickets": 1}]
        await eventually(lambda: counted(one), what="the triaged ticket counted")
        await _counts_agree(space)
        closing = TicketClosed(closure_code=ClosureCode.NOT_A_PRODUCT_DEFECT, by="bob")
        await send(space, ticket, Topic.LIFECYCLE, "intake", closing)
        await eventually(lambda: counted([]), what="the closed ticket out of the open counts")
        await _counts_agree(space)
    assert detail["notifications_sent"] == 1
    assert [e["event_type"] for e in detail["timeline"]].count("NotificationSent") == 1


async def test_attainment_counts_follow_a_ticket_whose_priority_changes_after_the_decision(
    space: Sandbox, services: Callable[..., RunningService]
) -> None:
    svc = services("board")
    ticket = f"tkt-att-{uuid.uuid4().hex[:6]}"
    first_response = ClockKind.FIRST_RESPONSE
    # The clock's outcome before the board knows the ticket's plan or priority (topics interleave).
    met = SlaMet(clock=first_response, due_at=NOW + 60 * M, elapsed_business_seconds=600)
    await send(space, ticket, Topic.SLA, "sla-clock", met)
    async with svc.client() as board:

        async def week() -> dict[tuple[str | None, str | None], tuple[int, int]]:
            rows = (await board.get("/v1/board/summary")).json()["attainment"]["week"]["rows"]
            return {(r["plan"], r["priority"]): (r["decided"], r["met"]) for r in rows}

        async def week_is(expected: dict[tuple[str | None, str | None], tuple[int, int]]) -> bool:
            return await week() == expected

        await eventually(lambda: week_is({(None, None): (1, 1)}), what="the outcome counted without a plan")
        await send(
            space,
            ticket,
            Topic.LIFECYCLE,
            "intake",
            opened(
                number="TKT-77", subject="Sync stalls", requester_email="fa@acme.example", customer_id="acme", **OPENED
            ),
        )
        await send(space, ticket, Topic.TRIAGE, "triage", triaged(priority=Priority.HIGH, queue="technical", **TRIAGED))
        await eventually(lambda: week_is({("gold", "high"): (1, 1)}), what="the outcome moved to gold / high")
        reprioritised = PriorityChanged(priority=Priority.URGENT, previous=Priority.HIGH, by="bob", reason="outage")
        await send(space, ticket, Topic.TRIAGE, "triage", reprioritised)
        await eventually(lambda: week_is({("gold", "urgent"): (1, 1)}), what="the outcome moved to gold / urgent")
        # A breach after the met stands: the clock counts as decided once, not met.
        await send(space, ticket, Topic.SLA, "sla-clock", SlaBreached(clock=first_response, due_at=NOW))
        await eventually(lambda: week_is({("gold", "urgent"): (1, 0)}), what="the breach to stand")
        await _attainment_agrees(space)


async def _attainment_agrees(space: Sandbox) -> None:
    """The summary's kept-in-step attainment counts equal a count over the outcomes and tickets."""
    kept, counted = await kept_and_counted(
        space,
        "SELECT * FROM board_attainment ORDER BY 1, 2, 3, 4",
        "SELECT date_bin('15 minutes', o.decided_at, TIMESTAMPTZ '2000-01-01 00:00+00'),"
        " coalesce(t.plan, ''), coalesce(t.priority, ''), o.clock, count(*)::int,"
        " (count(*) FILTER (WHERE o.met))::int FROM board_sla_outcomes o"
        " JOIN board_tickets t USING (ticket_id) GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    )
    assert kept == counted
    assert kept  # the scenarios decide clocks: an empty table would agree with anything
