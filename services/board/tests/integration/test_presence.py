"""Presence through the real board process: an agent's "viewing" and "replying" reach every live
stream, the current ones first to a stream that starts later, and expire on their own when not
refreshed (here after 2 seconds, 30 in a deployment); nothing of it is stored with the ticket."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from supportdesk_contract.catalogue import PEOPLE_KEY
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import RunningService, Sandbox, eventually
from supportdesk_devstack.testing.events import agent_profile, opened

from .board_scenario import OPENED, send

pytestmark = pytest.mark.integration


async def presences(
    board: httpx.AsyncClient, until: Callable[[list[dict[str, Any]]], bool], seconds: float
) -> list[dict[str, Any]]:
    """The presence events a stream sends within `seconds` (fewer if `until` says so first)."""
    got: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(seconds), board.stream("GET", "/v1/board/stream") as r:
            assert r.status_code == 200
            event: dict[str, str] = {}
            async for line in r.aiter_lines():
                if line == "":
                    if event.get("event") == "presence":
                        assert "id" not in event  # no change of the board: a resume point stays
                        got.append(json.loads(event["data"]))
                        if until(got):
                            break
                    event = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    event[name] = value.removeprefix(" ")
    except TimeoutError:
        pass
    return got


async def test_presence_reaches_every_stream_and_expires_on_its_own(
    space: Sandbox, services: Callable[..., RunningService]
) -> None:
    svc = services(
        "board",
        BOARD_API_KEYS="pat=pat-key,test-agent-key",
        BOARD_PRESENCE_SECONDS="2",
        BOARD_STREAM_POLL_SECONDS="0.1",
    )
    ticket = f"tkt-{uuid.uuid4().hex[:6]}"
    await send(space, ticket, Topic.LIFECYCLE, "intake", opened(number="TKT-301", **OPENED))
    await send(space, PEOPLE_KEY, Topic.PEOPLE, "assignment", agent_profile("pat", name="Pat Lee"))
    async with svc.client() as board, svc.client("pat-key") as pat:

        async def folded() -> bool:
            r = await board.get(f"/v1/board/tickets/{ticket}")
            names = (await board.get("/v1/board/directory")).json()["agents"]
            return r.status_code == 200 and [a["name"] for a in names] == ["Pat Lee"]

        await eventually(folded, what="the ticket and pat on the board")
        before = (await board.get(f"/v1/board/tickets/{ticket}")).json()

        missing = await pat.post("/v1/board/tickets/nope/presence", json={"activity": "viewing"})
        assert (missing.status_code, missing.headers["content-type"]) == (404, "application/problem+json")
        wrong = await pat.post(f"/v1/board/tickets/{ticket}/presence", json={"activity": "sleeping"})
        assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "body.activity", wrong.text
        async with svc.client(None) as anonymous:
            assert (
                await anonymous.post(f"/v1/board/tickets/{ticket}/presence", json={"activity": "viewing"})
            ).status_code == 401

        # A stream open before pat says anything hears both words, in order.
        watching = asyncio.create_task(presences(board, lambda got: got[-1]["activity"] == "replying", 15))
        await asyncio.sleep(0.5)
        said = await pat.post(f"/v1/board/tickets/{ticket}/presence", json={"activity": "viewing"})
        assert said.status_code == 202 and said.json()["agent"] == "pat", said.text
        await asyncio.sleep(0.5)
        assert (
            await pat.post(f"/v1/board/tickets/{ticket}/presence", json={"activity": "replying"})
        ).status_code == 202
        heard = await watching
        assert [(p["ticket_id"], p["agent"], p["name"], p["activity"]) for p in heard] == [
            (ticket, "pat", "Pat Lee", "viewing"),
            (ticket, "pat", "Pat Lee", "replying"),
        ]
        assert 0 < heard[-1]["expires_in_seconds"] <= 2

        # A stream that starts while it lasts gets it at once; one that starts after it expired
        # (no refresh for 2 seconds) gets nothing.
        late = await presences(board, lambda got: True, 5)
        assert [p["activity"] for p in late] == ["replying"]
        await asyncio.sleep(2.5)
        assert await presences(board, lambda got: True, 1.5) == []

        # Nothing of it is the ticket's: no timeline line, the row as it was.
        after = (await board.get(f"/v1/board/tickets/{ticket}")).json()
        for read in (before, after):  # counted to each read's instant
            read.pop("unassigned_seconds")
        assert after == before
