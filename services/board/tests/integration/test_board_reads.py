"""The board as `make run` serves it (a real process), on the real broker and database: the test
plays the five other services, writing their events to Kafka, and reads the board's HTTP API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from supportdesk_contract.catalogue import (
    AgentResponded,
    ClockKind,
    ClosureCode,
    EscalationAcknowledged,
    Event,
    NotificationSent,
    Priority,
    PriorityChanged,
    SlaBreached,
    SlaMet,
    TicketClosed,
    TicketEscalated,
)
from supportdesk_contract.clock import ManualClock, SystemClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.cli import BIN
from supportdesk_devstack.testing import RunningService, Sandbox, eventually, produce
from supportdesk_devstack.testing.events import GOLD, opened, started, triaged
from supportdesk_messaging.db import create_engine

pytestmark = pytest.mark.integration

NOW = SystemClock().now()  # the board process runs on the system clock; due instants are set around it
M = timedelta(minutes=1)
OPENED = {"opened_at": NOW - 30 * M, **GOLD}
TRIAGED = {"rule": "web-default", "opened_at": NOW - 30 * M, **GOLD}
STARTED = {"started_at": NOW - 30 * M, "target_seconds": 4 * 3600, "calendar": "pacific"}


async def send(space: Sandbox, ticket: str, topic: Topic, producer: str, *events: Event) -> list[bytes]:
    envs = [
        new_envelope(e, ticket_id=ticket, producer=producer, clock=ManualClock(NOW + i * timedelta(seconds=1)))
        for i, e in enumerate(events)
    ]
    encoded = [encode(env)[:2] for env in envs]
    await produce(space, topic, encoded)
    return [value for _, value in encoded if value is not None]


async def scenario(space: Sandbox) -> dict[str, str]:
    """Five tickets in two queues; one breached and escalated, one at risk, one answered."""
    ids = {name: f"tkt-{name}-{uuid.uuid4().hex[:6]}" for name in ("export", "login", "billing", "slow", "invoice")}
    specs = [
        ("export", "TKT-101", "Nightly exports fail", "ann@acme.example", Priority.HIGH, "technical", NOW + 10 * M),
        ("login", "TKT-102", "Cannot log in with SSO", "bo@acme.example", Priority.URGENT, "technical", NOW - 5 * M),
        (
            "billing",
            "TKT-103",
            "Invoice shows the wrong plan",
            "cy@globex.example",
            Priority.NORMAL,
            "billing",
            NOW + 3 * 60 * M,
        ),
        ("slow", "TKT-104", "Dashboard is slow", "di@globex.example", Priority.LOW, "technical", NOW + 5 * 60 * M),
        ("invoice", "TKT-105", "Duplicate invoice", "ed@acme.example", Priority.NORMAL, "billing", NOW + 2 * 60 * M),
    ]
    for name, number, subject, email, priority, queue, due in specs:
        customer = email.split("@")[1].split(".")[0]
        # Triage and SLA first for some: the board must not depend on topic order.
        if name in ("login", "slow"):
            await send(space, ids[name], Topic.SLA, "sla-clock", started(due_at=due, **STARTED))
            await send(space, ids[name], Topic.TRIAGE, "triage", triaged(priority=priority, queue=queue, **TRIAGED))
            await send(
                space,
                ids[name],
                Topic.LIFECYCLE,
                "intake",
                opened(number=number, subject=subject, requester_email=email, customer_id=customer, **OPENED),
            )
        else:
            await send(
                space,
                ids[name],
                Topic.LIFECYCLE,
                "intake",
                opened(number=number, subject=subject, requester_email=email, customer_id=customer, **OPENED),
            )
            await send(space, ids[name], Topic.TRIAGE, "triage", triaged(priority=priority, queue=queue, **TRIAGED))
            await send(space, ids[name], Topic.SLA, "sla-clock", started(due_at=due, **STARTED))
    login = ids["login"]
    await send(space, login, Topic.SLA, "sla-clock", SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=NOW - 5 * M))
    await send(
        space,
        login,
        Topic.ESCALATION,
        "escalation",
        TicketEscalated(
            level=2, route="account_manager", reason="first response breached", recipients=("am@sd.example",)
        ),
        EscalationAcknowledged(level=2, by="am@sd.example"),
    )
    await send(
        space,
        login,
        Topic.NOTIFICATIONS,
        "notifier",
        NotificationSent(
            cause_event_id=uuid.uuid4(), recipient="am@sd.example", channel="email", template="escalated", sent_at=NOW
        ),
    )
    await send(
        space, ids["invoice"], Topic.LIFECYCLE, "intake", AgentResponded(agent="bob", body="hi", confirms_receipt=True)
    )
    await send(
        space,
        ids["invoice"],
        Topic.SLA,
        "sla-clock",
        SlaMet(clock=ClockKind.FIRST_RESPONSE, due_at=NOW + 2 * 60 * M, elapsed_business_seconds=600),
    )
    return ids


async def list_ids(board: httpx.AsyncClient, **params: Any) -> list[str]:
    r = await board.get("/v1/board/tickets", params=params)
    assert r.status_code == 200, r.text
    return [t["ticket_id"] for t in r.json()["tickets"]]


async def settled(board: httpx.AsyncClient, ids: dict[str, str]) -> bool:
    """Every ticket in, with its number (lifecycle), queue (triage) and the last events applied."""
    r = await board.get("/v1/board/tickets", params={"limit": 200})
    rows = {t["ticket_id"]: t for t in r.json()["tickets"]} if r.status_code == 200 else {}
    mine = [rows.get(i) for i in ids.values()]
    return (
        all(t is not None and t["number"] and t["queue"] for t in mine)
        and rows[ids["login"]]["notifications_sent"] == 1
        and rows[ids["login"]]["escalation_acknowledged_by"] is not None
        and rows[ids["invoice"]]["status"] == "acknowledged"
        and rows[ids["invoice"]]["clocks"]["first_response"]["met"] is True
    )


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
        assert {e["topic"] for e in detail["timeline"]} == {t.value for t in Topic}
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


SseEvent = tuple[str, str, dict[str, Any]]  # (event, id, data)


async def _sse(
    client: httpx.AsyncClient,
    params: dict[str, Any],
    headers: dict[str, str],
    done: Callable[[list[SseEvent]], bool],
    timeout: float = 30,
) -> list[SseEvent]:
    """Read the stream until `done` says so, then hang up (the connection is dropped)."""
    got: list[SseEvent] = []
    async with asyncio.timeout(timeout), client.stream("GET", "/v1/board/stream", params=params, headers=headers) as r:
        assert r.status_code == 200, await r.aread()
        event: dict[str, str] = {}
        async for line in r.aiter_lines():
            if line == "":
                if "data" in event:
                    got.append((event.get("event", "message"), event.get("id", ""), json.loads(event["data"])))
                    if done(got):
                        break
                event = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")
    return got


async def test_the_stream_resumes_after_a_dropped_connection_without_losing_a_change(
    space: Sandbox, services: Callable[..., RunningService]
) -> None:
    svc = services("board", BOARD_STREAM_POLL_SECONDS="0.1")
    tickets = [f"tkt-live-{i}-{uuid.uuid4().hex[:6]}" for i in range(6)]
    async with svc.client() as board:

        def covers(wanted: set[str]) -> Callable[[list[SseEvent]], bool]:
            return lambda got: wanted <= {e[2]["ticket_id"] for e in got if e[0] == "ticket" and e[2]["number"]}

        ready = asyncio.create_task(_sse(board, {"queue": "live"}, {}, covers(set(tickets[:2]))))
        await asyncio.sleep(1.0)
        for i, ticket in enumerate(tickets[:2]):
            await send(space, ticket, Topic.TRIAGE, "triage", triaged(priority=Priority.HIGH, queue="live", **TRIAGED))
            await send(
                space,
                ticket,
                Topic.LIFECYCLE,
                "intake",
                opened(
                    number=f"TKT-{500 + i}",
                    subject="Live one",
                    requester_email="li@acme.example",
                    customer_id="acme",
                    **OPENED,
                ),
            )
        first = await ready  # the connection is dropped here, mid-stream
        assert first[0][0] == "ready"
        seen = {e[2]["ticket_id"] for e in first if e[0] == "ticket"}
        last_id = [e[1] for e in first][-1]
        # While nobody listens: four more tickets, and a ticket of another queue the filter drops.
        for i, ticket in enumerate(tickets[2:]):
            await send(
                space,
                ticket,
                Topic.LIFECYCLE,
                "intake",
                opened(
                    number=f"TKT-{510 + i}",
                    subject="Later",
                    requester_email="la@acme.example",
                    customer_id="acme",
                    **OPENED,
                ),
            )
            await send(space, ticket, Topic.TRIAGE, "triage", triaged(priority=Priority.LOW, queue="live", **TRIAGED))
        other = f"tkt-other-{uuid.uuid4().hex[:6]}"
        await send(space, other, Topic.TRIAGE, "triage", triaged(priority=Priority.LOW, queue="elsewhere", **TRIAGED))

        async def all_in() -> bool:
            return len(await list_ids(board, queue="live", priority="low")) == 4

        await eventually(all_in, what="the later tickets folded")
        resumed = await _sse(board, {"queue": "live"}, {"Last-Event-ID": last_id}, covers(set(tickets[2:])))
    replayed = [e for e in resumed if e[0] == "ticket"]
    assert all(int(e[1]) > int(last_id) for e in replayed)
    ids = [int(e[1]) for e in replayed]
    assert ids == sorted(ids)
    assert seen == set(tickets[:2])
    assert {e[2]["ticket_id"] for e in replayed} == set(tickets[2:])  # every later one; none seen twice
    assert all(e[2]["queue"] == "live" for e in replayed)
    assert {e[2]["ticket_id"] for e in replayed if e[2]["priority"] == "low"} == set(tickets[2:])


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
    engine = create_engine(space.servers.database_url, space.database("board"))
    try:
        async with engine.connect() as conn:
            kept = (await conn.execute(text("SELECT * FROM board_attainment ORDER BY 1, 2, 3, 4"))).all()
            counted = (
                await conn.execute(
                    text(
                        "SELECT date_bin('15 minutes', o.decided_at, TIMESTAMPTZ '2000-01-01 00:00+00'),"
                        " coalesce(t.plan, ''), coalesce(t.priority, ''), o.clock, count(*)::int,"
                        " (count(*) FILTER (WHERE o.met))::int FROM board_sla_outcomes o"
                        " JOIN board_tickets t USING (ticket_id) GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in kept] == [tuple(r) for r in counted]
    assert kept  # the scenarios decide clocks: an empty table would agree with anything


async def _counts_agree(space: Sandbox) -> None:
    """The summary's kept-in-step counts equal a count over the rows themselves."""
    engine = create_engine(space.servers.database_url, space.database("board"))
    try:
        async with engine.connect() as conn:
            kept = (await conn.execute(text("SELECT * FROM board_open_counts ORDER BY 1, 2, 3, 4, 5"))).all()
            counted = (
                await conn.execute(
                    text(
                        "SELECT coalesce(queue, ''), coalesce(priority, ''), status, breached, escalation_level,"
                        " count(*) FROM board_tickets WHERE is_open GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in kept] == [tuple(r) for r in counted]


async def _snapshot(space: Sandbox) -> dict[str, list[Any]]:
    engine = create_engine(space.servers.database_url, space.database("board"))
    try:
        async with engine.connect() as conn:
            out = {}
            for name, sql in {
                "tickets": "SELECT *, search::text AS search FROM board_tickets ORDER BY ticket_id",
                "timeline": "SELECT * FROM board_timeline ORDER BY event_id",
                "outcomes": "SELECT * FROM board_sla_outcomes ORDER BY ticket_id, clock, cycle",
                "counts": "SELECT * FROM board_open_counts ORDER BY 1, 2, 3, 4, 5",
                "attainment": "SELECT * FROM board_attainment ORDER BY 1, 2, 3, 4",
            }.items():
                out[name] = [tuple(r) for r in (await conn.execute(text(sql))).all()]
            return out
    finally:
        await engine.dispose()


async def test_the_board_rebuilt_from_the_log_is_identical_a_tampered_row_is_named_and_swap_repairs_it(
    space: Sandbox, services: Callable[..., RunningService]
) -> None:
    svc = services("board")
    ids = await scenario(space)
    async with svc.client() as board:
        await eventually(lambda: settled(board, ids), what="the board to fold every ticket")
    await _counts_agree(space)
    before = await _snapshot(space)
    assert len(before["tickets"]) == 5 and len(before["timeline"]) > 20
    env = {**os.environ, **svc.env}

    async def rebuild(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run, [str(BIN / "board"), "rebuild", *args], env=env, capture_output=True, text=True
        )

    # While the board serves: a shadow rebuilt from the log, compared, dropped.
    same = await rebuild()
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout.strip().endswith("identical") and "board_timeline" in same.stdout
    assert await _snapshot(space) == before  # the live board untouched
    login = ids["login"]
    engine = create_engine(space.servers.database_url, space.database("board"))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE board_tickets SET subject = 'tampered' WHERE ticket_id = :t"), {"t": login})
            last_seq = (await conn.execute(text("SELECT max(seq) FROM board_changes"))).scalar_one()
            # Two dead letters waiting for a redrive: one of an event the log holds (a rebuild with
            # the fix applies it: the swap marks it redriven by the rebuild), one of an event it
            # does not (it stays waiting for an operator).
            applied_id = (await conn.execute(text("SELECT event_id FROM inbox LIMIT 1"))).scalar_one()
            for offset, event_id in ((10**6, applied_id), (10**6 + 1, uuid.uuid4())):
                await conn.execute(
                    text(
                        "INSERT INTO dead_letters (consumer, source_topic, source_partition, source_offset, event_id,"
                        " reason_class, reason, headers, dead_lettered_at)"
                        " VALUES ('board', 'x', 0, :offset, :event_id, 'ValueError', 'a bug since fixed', '[]', now())"
                    ),
                    {"offset": offset, "event_id": event_id},
                )
    finally:
        await engine.dispose()
    tampered = await rebuild()
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert f'board_tickets (ticket_id={login!r}) subject: live="tampered" shadow="Cannot log in with SSO"' in (
        tampered.stdout
    ), tampered.stdout

    svc.process.stop()
    swapped = await rebuild("--swap")
    assert swapped.returncode == 0, swapped.stdout + swapped.stderr
    replaced = swapped.stdout.split("the old one is ")[1].split(" ")[0]
    space.databases.append(replaced)
    assert await _snapshot(space) == before  # the tampered row repaired
    engine = create_engine(space.servers.database_url, space.database("board"))
    try:
        async with engine.begin() as conn:
            # The live stream's ids go on from where live's were: a client's Last-Event-ID stays valid.
            nxt = (await conn.execute(text("SELECT nextval(pg_get_serial_sequence('board_changes', 'seq'))"))).scalar()
    finally:
        await engine.dispose()
    assert nxt is not None and nxt > last_seq
    assert "1 dead letters the rebuild applied are marked redriven" in swapped.stdout, swapped.stdout
    engine = create_engine(space.servers.database_url, space.database("board"))
    try:
        async with engine.begin() as conn:
            letters = (
                await conn.execute(
                    text("SELECT event_id, redriven_by, redrive_outcome FROM dead_letters ORDER BY source_offset")
                )
            ).all()
    finally:
        await engine.dispose()
    assert [(r.redriven_by, r.redrive_outcome) for r in letters] == [("rebuild", "applied"), (None, None)]
    assert letters[0].event_id == applied_id
    svc.restart()
    async with svc.client() as board:
        await eventually(lambda: settled(board, ids), what="the swapped board serving every ticket")
    assert await _snapshot(space) == before


async def test_the_change_feed_keeps_one_row_per_ticket_and_a_resume_from_the_start_misses_nothing(
    space: Sandbox, services: Callable[..., RunningService]
) -> None:
    """The stream's change feed would grow by a row per event forever; the compactor deletes the
    rows a newer change of the same ticket supersedes, which a resuming client never needed."""
    svc = services("board", BOARD_STREAM_POLL_SECONDS="0.1", BOARD_CHANGE_FEED_COMPACT_SECONDS="0.3")
    ids = await scenario(space)
    engine = create_engine(space.servers.database_url, space.database("board"))
    try:
        async with svc.client() as board:
            await eventually(lambda: settled(board, ids), what="the board to fold every ticket")

            async def compacted() -> bool:
                async with engine.connect() as conn:
                    rows = (await conn.execute(text("SELECT ticket_id, count(*) FROM board_changes GROUP BY 1"))).all()
                return {r[0] for r in rows} == set(ids.values()) and all(r[1] == 1 for r in rows)

            await eventually(compacted, what="one change row per ticket")
            async with engine.connect() as conn:
                events = (await conn.execute(text("SELECT count(*) FROM board_timeline"))).scalar_one()
                last = (await conn.execute(text("SELECT max(seq) FROM board_changes"))).scalar_one()
            assert events > 2 * len(ids)  # many changes per ticket were folded: the feed shrank
            wanted = set(ids.values())
            resumed = await _sse(
                board, {}, {"Last-Event-ID": "0"}, lambda got: wanted <= {e[2]["ticket_id"] for e in got}
            )
            page = (await board.get("/v1/board/tickets", params={"limit": 200})).json()["tickets"]
            listed = {t["ticket_id"]: t for t in page}
    finally:
        await engine.dispose()
    rows = {e[2]["ticket_id"]: e[2] for e in resumed if e[0] == "ticket"}
    assert set(rows) == wanted
    # Each at its latest state, as the list shows it now (the countdown aside: computed per read;
    # and the same encoding: the stream wrote "+00:00" where the list wrote "Z" before).
    strip = ("business_time",)
    assert {k: {f: v for f, v in r.items() if f not in strip} for k, r in rows.items()} == {
        k: {f: v for f, v in listed[k].items() if f not in strip} for k in wanted
    }
    assert max(int(e[1]) for e in resumed if e[0] == "ticket") == last  # ids stay the feed's own
