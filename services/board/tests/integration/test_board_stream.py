"""The board's live stream (server-sent events) as `make run` serves it, on the real broker and
database: a resume after a dropped connection, and the change feed behind it kept compact."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from supportdesk_contract.catalogue import (
    Priority,
)
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import RunningService, Sandbox, eventually
from supportdesk_devstack.testing.events import opened, triaged
from supportdesk_messaging.db import create_engine

from .board_scenario import OPENED, TRIAGED, list_ids, scenario, send, settled

pytestmark = pytest.mark.integration


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


async def test_a_stream_started_from_the_lists_change_misses_nothing_between_the_two(
    space: Sandbox, services: Callable[..., RunningService]
) -> None:
    """A page reads the list, then opens the stream: a ticket changed in between must arrive. The
    list names the change it was read at; a stream resumed from it carries what came after."""
    svc = services("board", BOARD_STREAM_POLL_SECONDS="0.1")
    ticket = f"tkt-gap-{uuid.uuid4().hex[:6]}"
    async with svc.client() as board:
        listed = (await board.get("/v1/board/tickets", params={"queue": "gap"})).json()
        assert listed["tickets"] == [] and isinstance(listed["change"], int)
        await send(space, ticket, Topic.TRIAGE, "triage", triaged(priority=Priority.HIGH, queue="gap", **TRIAGED))

        async def folded() -> bool:
            return await list_ids(board, queue="gap") == [ticket]

        await eventually(folded, what="the ticket changed after the list's read")
        got = await _sse(
            board,
            {"queue": "gap"},
            {"Last-Event-ID": str(listed["change"])},
            lambda got: any(e[0] == "ticket" and e[2]["ticket_id"] == ticket for e in got),
            timeout=15,
        )
    assert [e[2]["ticket_id"] for e in got if e[0] == "ticket"] == [ticket]


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
    # Each at its latest state, as the list shows it now (the countdown and the wait unassigned
    # aside: computed per read;
    # and the same encoding: the stream wrote "+00:00" where the list wrote "Z" before).
    strip = ("business_time", "unassigned_seconds")
    assert {k: {f: v for f, v in r.items() if f not in strip} for k, r in rows.items()} == {
        k: {f: v for f, v in listed[k].items() if f not in strip} for k in wanted
    }
    assert max(int(e[1]) for e in resumed if e[0] == "ticket") == last  # ids stay the feed's own
