"""Who holds what and who works here, through the real broker and database: the board process folds
the people and assignment events the test publishes, and answers the "mine", "my team's" and
"unassigned" filters, the workload (which agrees with the list) and the directory, live and as of
an instant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from supportdesk_contract.catalogue import PEOPLE_KEY, AssignmentReason, ClosureCode, TicketClosed
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import RunningService, Sandbox, eventually, produce
from supportdesk_devstack.testing.events import agent_profile, assigned

from .board_scenario import NOW, M, list_ids, scenario, settled

pytestmark = pytest.mark.integration

KEYS = "pat=pat-key,sam@desk.example=sam-key,nobody=nobody-key,test-agent-key"


def _problem_field(r: httpx.Response) -> str:
    assert (r.status_code, r.headers["content-type"]) == (422, "application/problem+json"), r.text
    field: str = r.json()["errors"][0]["field"]
    return field


async def _workload(board: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await board.get("/v1/board/workload", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_mine_my_teams_and_unassigned_filters_workload_and_directory(
    space: Sandbox, services: Callable[..., RunningService]
) -> None:
    svc = services("board", BOARD_API_KEYS=KEYS)
    ids = await scenario(space)
    login, export, slow, billing, invoice = (ids[k] for k in ("login", "export", "slow", "billing", "invoice"))
    async with svc.client() as board, svc.client("pat-key") as pat, svc.client("sam-key") as sam:
        await eventually(lambda: settled(board, ids), what="the board to fold every ticket and who holds it")
        # "me" is the key's name, as an agent id (pat) or an email (sam's key is named by it).
        assert await list_ids(pat, assignee="me") == [login, export]
        assert await list_ids(sam, assignee="me") == [invoice]
        assert await list_ids(board, assignee="pat") == [login, export]
        assert await list_ids(pat, team="mine") == [login, export, slow]
        assert await list_ids(sam, team="mine") == [invoice, billing]
        assert await list_ids(board, team="billing-team") == [invoice, billing]
        assert await list_ids(board, assignee="none") == [billing, slow]
        assert await list_ids(pat, team="mine", assignee="none") == [slow]
        assert (await pat.get("/v1/board/me")).json() == {
            "caller": "pat",
            "agent_id": "pat",
            "name": "Pat Lee",
            "teams": ["tier-1"],
        }
        assert (await sam.get("/v1/board/me")).json()["agent_id"] == "sam"
        assert (await board.get("/v1/board/me")).json()["agent_id"] is None  # the key "agent" is no agent
        # The problem+json answers name the field.
        assert _problem_field(await board.get("/v1/board/tickets", params={"assignee": "bogus"})) == "query.assignee"
        assert _problem_field(await board.get("/v1/board/tickets", params={"team": "nope"})) == "query.team"
        # Read as of an instant too (the unknown team is found inside the as-of read's block: once a 500).
        as_of = {"team": "nope", "as_of": NOW.isoformat()}
        assert _problem_field(await board.get("/v1/board/tickets", params=as_of)) == "query.team"
        async with svc.client("nobody-key") as nobody:
            assert _problem_field(await nobody.get("/v1/board/tickets", params={"assignee": "me"})) == "query.assignee"
            assert _problem_field(await nobody.get("/v1/board/tickets", params={"team": "mine"})) == "query.team"
            assert _problem_field(await nobody.get("/v1/board/stream", params={"team": "mine"})) == "query.team"

        rows = {t["ticket_id"]: t for t in (await board.get("/v1/board/tickets")).json()["tickets"]}
        assert (rows[login]["assignee"], rows[login]["assignee_name"], rows[login]["team_name"]) == (
            "pat",
            "Pat Lee",
            "Tier 1",
        )
        assert rows[login]["assigned_at"] is not None and rows[login]["unassigned_seconds"] is None
        # slow never had a holder: it has waited since it opened (30 minutes before NOW).
        assert rows[slow]["unassigned_seconds"] >= 30 * 60
        assert rows[billing]["unassigned_seconds"] < rows[slow]["unassigned_seconds"]

        work = await _workload(board)
        agents = {a["agent_id"]: a for a in work["agents"]}
        assert {k: agents["pat"][k] for k in ("open", "at_risk", "breached", "capacity", "availability", "teams")} == {
            "open": 2,
            "at_risk": 1,
            "breached": 1,
            "capacity": 6,
            "availability": "online",
            "teams": ["tier-1"],
        }
        assert (agents["sam"]["open"], agents["sam"]["availability"]) == (1, "away")
        assert (agents["lea"]["open"], agents["lea"]["teams"]) == (0, [])
        teams = {t["team_id"]: t for t in work["teams"]}
        assert (teams["tier-1"]["unassigned"], teams["billing-team"]["unassigned"]) == (1, 1)
        assert teams["tier-1"]["oldest_unassigned_since"] == rows[slow]["unassigned_since"]
        # The workload agrees with the ticket rows, agent by agent and team by team.
        for agent in work["agents"]:
            held = [rows[t] for t in await list_ids(board, assignee=agent["agent_id"], open="true")]
            assert (agent["open"], agent["at_risk"], agent["breached"]) == (
                len(held),
                sum(t["at_risk"] for t in held),
                sum(t["breached"] for t in held),
            ), agent
        for team in work["teams"]:
            waiting = await list_ids(board, team=team["team_id"], assignee="none")
            assert team["unassigned"] == len(waiting), team

        directory = (await board.get("/v1/board/directory")).json()
        people = {a["agent_id"]: a for a in directory["agents"]}
        assert (people["pat"]["name"], people["pat"]["email"], people["pat"]["active"]) == (
            "Pat Lee",
            "pat@desk.example",
            True,
        )
        tier1 = next(t for t in directory["teams"] if t["team_id"] == "tier-1")
        assert (tier1["members"], tier1["lead"], tier1["queues"]) == (["pat"], "pat", ["technical"])

        detail = (await board.get(f"/v1/board/tickets/{billing}")).json()
        lines = [(e["actor"], e["summary"]) for e in detail["timeline"] if e["topic"] == Topic.ASSIGNMENT.value]
        assert lines == [
            ("assignment", "assigned to sam of team billing-team, by the team's rule"),
            (
                "assignment",
                "unassigned from sam, back to team billing-team's pool, because the holder went away:"
                " away for 15 minutes",
            ),
        ]

        # An hour on: pat renamed, lea claims the slow dashboard. As of half an hour on, neither yet.
        later = ManualClock(NOW + 60 * M)
        renamed = new_envelope(
            agent_profile("pat", name="Pat Lee-Smith", teams=("tier-1",), capacity=6),
            ticket_id=PEOPLE_KEY,
            producer="assignment",
            clock=later,
        )
        claimed = new_envelope(
            assigned("lea", "tier-1", by="lea", reason=AssignmentReason.CLAIMED),
            ticket_id=slow,
            producer="assignment",
            clock=later,
        )
        await produce(space, Topic.PEOPLE, [encode(renamed)[:2]])
        await produce(space, Topic.ASSIGNMENT, [encode(claimed)[:2]])

        async def moved() -> bool:
            lea = next(a for a in (await _workload(board))["agents"] if a["agent_id"] == "lea")
            return bool(lea["open"] == 1)

        await eventually(moved, what="lea's claim folded")
        assert await list_ids(board, assignee="none") == [billing]
        now_rows = {t["ticket_id"]: t for t in (await board.get("/v1/board/tickets")).json()["tickets"]}
        assert now_rows[login]["assignee_name"] == "Pat Lee-Smith"
        as_of = (NOW + 30 * M).isoformat()
        assert await list_ids(board, assignee="none", as_of=as_of) == [billing, slow]
        then = await _workload(board, as_of=as_of)
        assert {a["agent_id"]: a["open"] for a in then["agents"]} == {"lea": 0, "pat": 2, "sam": 1}
        then_rows = {
            t["ticket_id"]: t for t in (await board.get("/v1/board/tickets", params={"as_of": as_of})).json()["tickets"]
        }
        assert then_rows[login]["assignee_name"] == "Pat Lee"
        then_people = (await board.get("/v1/board/directory", params={"as_of": as_of})).json()
        assert {a["agent_id"]: a["name"] for a in then_people["agents"]}["pat"] == "Pat Lee"

        # Pat closes the at-risk export: it keeps pat as its holder, for its history, and leaves
        # pat's workload. A holder the directory has not heard of yet is listed and filtered too.
        closed = TicketClosed(closure_code=ClosureCode.CUSTOMER_CONFIRMED, by="pat")
        await produce(
            space, Topic.LIFECYCLE, [encode(new_envelope(closed, ticket_id=export, producer="intake", clock=later))[:2]]
        )
        night = assigned("zed", "night-shift", reason=AssignmentReason.MANUAL, by="lea")
        await produce(
            space,
            Topic.ASSIGNMENT,
            [encode(new_envelope(night, ticket_id=billing, producer="assignment", clock=later))[:2]],
        )

        async def both() -> bool:
            agents = {a["agent_id"]: a for a in (await _workload(board))["agents"]}
            return bool(agents["pat"]["open"] == 1 and "zed" in agents)

        await eventually(both, what="the close and zed's ticket folded")
        agents = {a["agent_id"]: a for a in (await _workload(board))["agents"]}
        assert {k: agents["pat"][k] for k in ("open", "at_risk", "breached")} == {
            "open": 1,
            "at_risk": 0,
            "breached": 1,
        }
        assert {k: agents["zed"][k] for k in ("name", "open", "teams")} == {"name": None, "open": 1, "teams": []}
        assert await list_ids(board, assignee="pat", open="false") == [export]
        assert await list_ids(board, assignee="pat", open="true") == [login]
        assert await list_ids(board, assignee="zed") == [billing]
        assert await list_ids(board, team="night-shift") == [billing]
        shown = (await board.get(f"/v1/board/tickets/{export}")).json()
        assert (shown["status"], shown["assignee"], shown["assignee_name"], shown["unassigned_since"]) == (
            "closed",
            "pat",
            "Pat Lee-Smith",
            None,
        )
