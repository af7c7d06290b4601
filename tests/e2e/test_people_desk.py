"""People in the desk, end to end: web tickets through intake, triage and sla-clock to assignment,
which hands each team's pool to agents on shift, and the board, which shows who holds what. All five
as real processes on the real broker and databases.

Two teams: first-level support in Berlin, on shift now, and technical support in Los Angeles, off
shift now (its hours are on another weekday); in Berlin, Lena's own hours are also another day's.
The file is written for the moment the test runs, so "now" is on one side of every shift."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from supportdesk_devstack.testing import RunningService, eventually

pytestmark = pytest.mark.e2e

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEYS = "anna=anna-key,jonas=jonas-key,lena=lena-key,maria=maria-key"
ADMIN = "root=root-key"
CUSTOMERS = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "customers.yaml"


def another_day(zone: str) -> str:
    """A weekday three days from today in `zone`: its hours are nowhere near now."""
    return DAYS[(datetime.now(UTC).astimezone(ZoneInfo(zone)).weekday() + 3) % 7]


def people_file(path: Path) -> Path:
    la_day, lena_day = another_day("America/Los_Angeles"), another_day("Europe/Berlin")
    path.write_text(
        f"""
teams:
  first-level:
    name: First-level support, Berlin
    queues: [first-level]
    lead: anna
    rule: least_loaded
    hand_back_after_minutes: 0
    calendar: {{zone: Europe/Berlin, hours: {{daily: [["00:00", "24:00"]]}}}}
  technical:
    name: Technical support, Los Angeles
    queues: [technical]
    lead: maria
    rule: round_robin
    calendar: {{zone: America/Los_Angeles, hours: {{{la_day}: [["09:00", "17:00"]]}}}}
agents:
  anna: {{name: Anna Becker, email: anna@desk.example, teams: [first-level], capacity: 2, availability: online}}
  jonas: {{name: Jonas Weber, email: jonas@desk.example, teams: [first-level], capacity: 2, availability: online}}
  lena:
    name: Lena Roth
    email: lena@desk.example
    teams: [first-level]
    capacity: 10
    availability: online
    working_hours: {{zone: Europe/Berlin, hours: {{{lena_day}: [["09:00", "17:00"]]}}}}
  maria: {{name: Maria Diaz, email: maria@desk.example, teams: [technical], capacity: 10, availability: online}}
"""
    )
    return path


async def open_ticket(intake: RunningService, n: int, **fields: Any) -> str:
    async with intake.client(api_key=None) as web:
        body = {"requester_email": f"caller{n}@unknown.example", "subject": f"Ticket {n}", "description": "Help"}
        r = await web.post("/v1/tickets", json={**body, **fields})
    assert r.status_code == 202, r.text
    return str(r.json()["ticket_id"])


async def holder(assignment: RunningService, ticket_id: str) -> dict[str, Any] | None:
    async with assignment.client(api_key="anna-key") as c:
        r = await c.get(f"/v1/tickets/{ticket_id}/assignment")
    return r.json() if r.status_code == 200 else None


async def test_tickets_go_to_agents_on_shift_within_capacity_and_the_board_shows_who_holds_them(
    services: Callable[..., RunningService], tmp_path: Path
) -> None:
    people = people_file(tmp_path / "people.yaml")
    intake = services("intake", INTAKE_CUSTOMERS_FILE=str(CUSTOMERS))
    services("triage")
    services("sla-clock")
    assignment = services(
        "assignment",
        ASSIGNMENT_PEOPLE_FILE=str(people),
        ASSIGNMENT_API_KEYS=KEYS,
        ASSIGNMENT_ADMIN_API_KEYS=ADMIN,
        ASSIGNMENT_PASS_SECONDS="0.5",
    )
    board = services("board", BOARD_API_KEYS=KEYS)

    # Five first-level tickets (unknown senders) and one technical (a customer's problem).
    first_level = [await open_ticket(intake, n) for n in range(5)]
    technical = await open_ticket(
        intake, 9, requester_email="clerk@harbor-city.example", request_type="problem", severity=3
    )

    async def settled() -> bool:
        held = [await holder(assignment, t) for t in first_level]
        return all(h is not None and h["team"] == "first-level" for h in held) and (
            sum(1 for h in held if h and h["agent"]) == 4
        )

    await eventually(settled, timeout=60, what="four of five first-level tickets held")
    held = {t: await holder(assignment, t) for t in first_level}
    by_agent: dict[str, int] = {}
    for h in held.values():
        assert h is not None
        if h["agent"]:
            by_agent[h["agent"]] = by_agent.get(h["agent"], 0) + 1
    # Only the two on shift, never above their capacity of 2; Lena (her hours are another day's) none.
    assert by_agent == {"anna": 2, "jonas": 2}
    waiting = [t for t, h in held.items() if h and h["agent"] is None]
    assert len(waiting) == 1
    # The oldest waited longest: the one left over is the last opened (equal SLA urgency).
    assert waiting == [first_level[-1]]
    # Technical support is off shift: its ticket waits in its pool.
    tech = await eventually(lambda: holder(assignment, technical), what="the technical ticket pooled")
    assert (tech["team"], tech["agent"]) == ("technical", None)

    # Every decision says why, on the ticket's assignment history (the board's timeline).
    async with board.client(api_key="anna-key") as c:

        async def mine() -> list[dict[str, Any]] | None:
            r = await c.get("/v1/board/tickets", params={"assignee": "me"})
            rows = r.json()["tickets"] if r.status_code == 200 else []
            return rows if len(rows) == 2 else None

        rows = await eventually(mine, timeout=30, what="anna's two tickets on the board")
        assert {row["ticket_id"] for row in rows} == {t for t, h in held.items() if h and h["agent"] == "anna"}
        assert all(row["team"] == "first-level" for row in rows)
        timeline = (await c.get(f"/v1/board/tickets/{rows[0]['ticket_id']}")).json()["timeline"]
        lines = [e["summary"] for e in timeline if e["event_type"] == "TicketAssigned"]
        # Into the team's pool first, then to Anna by the rule, naming who was considered and why.
        assert any(line.startswith("assigned to anna of team first-level") for line in lines), lines
        why = next(line for line in lines if line.startswith("assigned to anna"))
        assert "least loaded of " in why and "Lena" not in why, why  # off shift: not a candidate

        # A manual claim wins over the rule: the rule never gives Anna a third ticket (her capacity
        # is 2), but she may take the one left waiting herself.
        async with assignment.client(api_key="anna-key") as anna:
            current = await anna.get(f"/v1/tickets/{waiting[0]}/assignment")
            claimed = await anna.post(f"/v1/tickets/{waiting[0]}/claim", headers={"If-Match": current.headers["etag"]})
            assert claimed.status_code == 200, claimed.text
            assert (claimed.json()["agent"], claimed.json()["manual"]) == ("anna", True)
            stale = await anna.post(f"/v1/tickets/{waiting[0]}/claim", headers={"If-Match": current.headers["etag"]})
            assert stale.status_code == 412 and stale.json()["missed_events"], stale.text

        # Jonas goes away: with no grace, his two go back to the pool, where they wait (nobody on
        # shift has room: Lena's hours are another day's).
        async with assignment.client(api_key="jonas-key") as j:
            r = await j.put("/v1/agents/jonas/availability", json={"availability": "away"})
            assert r.status_code == 200, r.text
        jonas_tickets = [t for t, h in held.items() if h and h["agent"] == "jonas"]

        async def handed_back() -> bool:
            now = [await holder(assignment, t) for t in jonas_tickets]
            return all(h is not None and h["agent"] is None and h["team"] == "first-level" for h in now)

        await eventually(handed_back, timeout=30, what="jonas's tickets back in the pool")

        async def workload() -> dict[str, Any] | None:
            r = await c.get("/v1/board/workload")
            agents = {a["agent_id"]: a for a in r.json()["agents"]} if r.status_code == 200 else {}
            counts = {name: agents.get(name, {}).get("open") for name in ("anna", "jonas", "lena")}
            return agents if counts == {"anna": 3, "jonas": 0, "lena": 0} else None

        agents = await eventually(workload, timeout=30, what="the board's workload after the claim and hand-back")
        assert agents["jonas"]["availability"] == "away"
        teams = {t["team_id"]: t for t in (await c.get("/v1/board/workload")).json()["teams"]}
        assert teams["first-level"]["unassigned"] == 2  # Jonas's two, waiting
