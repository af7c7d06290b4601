"""`board rebuild` on a running board, on the real broker and database: the projection rebuilt from
the log is identical, a tampered row is named, and the swap repairs it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from supportdesk_devstack.cli import BIN
from supportdesk_devstack.testing import RunningService, Sandbox, eventually
from supportdesk_messaging.db import create_engine

from .board_scenario import _counts_agree, scenario, settled

pytestmark = pytest.mark.integration


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
                "agents": "SELECT * FROM board_agents ORDER BY agent_id",
                "teams": "SELECT * FROM board_teams ORDER BY team_id",
                "people": "SELECT * FROM board_people_log ORDER BY seq",
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
    assert len(before["tickets"]) == 5 and len(before["timeline"]) > 20  # no row for the people
    assert (len(before["agents"]), len(before["teams"]), len(before["people"])) == (3, 2, 7)
    env = {**os.environ, **svc.env}

    async def rebuild(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run, [str(BIN / "board"), "rebuild", *args], env=env, capture_output=True, text=True
        )

    # While the board serves: a shadow rebuilt from the log, compared, dropped.
    same = await rebuild()
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout.strip().endswith("identical") and "board_timeline" in same.stdout
    assert "board_people_log" in same.stdout
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
