"""Assignment through its HTTP API, the real broker and database: two teams, Berlin and Los
Angeles, on different shifts; at 10:00 in Berlin (01:00 in Los Angeles) only Berlin is on shift.
Tickets arrive as intake, triage and sla-clock publish them; the pass gives them to on-shift
Berlin agents with room, most urgent-to-breach first; an agent going away hands back after the
grace; a claim wins over the rule; every decision is an event with its reason and explanation;
redelivered events record nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from assignment.adapters.calendars import CalendarSpec, definition
from assignment.adapters.people_file import PeopleSpec
from assignment.entrypoints.app import build_app
from assignment.service_layer.directory import load_people
from assignment.settings import Settings
from supportdesk_contract.catalogue import ClosureCode, Event, TicketClosed, TriagedField, TriageOverridden
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import Envelope, encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import Sandbox, eventually, produce
from supportdesk_devstack.testing.events import opened, reopened, started, triaged
from supportdesk_messaging.db import create_engine
from supportdesk_service.migrations import migrate
from supportdesk_service.yaml_config import parse_yaml

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 7, 9, tzinfo=UTC)  # a Monday: 10:00 in Berlin, 01:00 in Los Angeles
ADMIN = {"Authorization": "Bearer root-key"}
KEYS = {name: {"Authorization": f"Bearer {name}-key"} for name in ("anna", "jonas", "lea", "maria", "sam", "stranger")}

PEOPLE = """
teams:
  berlin:
    name: First level, Berlin
    queues: [first-level]
    rule: least_loaded
    hand_back_after_minutes: 15
    calendar: {zone: Europe/Berlin, hours: {mon-fri: [["08:00", "17:00"]]}}
  los-angeles:
    name: Technical, Los Angeles
    queues: [technical]
    rule: round_robin
    calendar: {zone: America/Los_Angeles, hours: {mon-fri: [["06:00", "18:00"]]}, holiday_sets: [us-federal]}
agents:
  anna: {name: Anna, email: anna@x.example, teams: [berlin], capacity: 3, time_zone: Europe/Berlin}
  jonas: {name: Jonas, email: jonas@x.example, teams: [berlin], capacity: 2, time_zone: Europe/Berlin}
  # Berlin's team, but her own hours are afternoons: off shift at 10:00.
  lea:
    name: Lea
    email: lea@x.example
    teams: [berlin]
    capacity: 5
    working_hours: {zone: Europe/Berlin, hours: {mon-fri: [["13:00", "17:00"]]}}
  maria: {name: Maria, email: maria@x.example, teams: [los-angeles], capacity: 9, availability: online}
  # In both teams, working Los Angeles hours: never on shift at 10:00 in Berlin.
  sam:
    name: Sam
    email: sam@x.example
    teams: [berlin, los-angeles]
    capacity: 9
    availability: online
    working_hours: {zone: America/Los_Angeles, hours: {mon-fri: [["06:00", "18:00"]]}}
"""

BERLIN = definition(CalendarSpec(zone="Europe/Berlin", hours={"mon-fri": [("08:00", "17:00")]}), "berlin-sla", T0)
# Berlin tickets b1..b7 with first responses due in this many business minutes (b7: no clock).
DUE_MINUTES = {"b1": 240, "b2": 30, "b3": 120, "b4": 60, "b5": 480, "b6": 90}


class Desk:
    def __init__(self, client: httpx.AsyncClient, clock: ManualClock, engine: AsyncEngine, space: Sandbox) -> None:
        self.client, self.clock, self.engine, self.space = client, clock, engine, space
        self.sent: list[tuple[Topic, Envelope[Any]]] = []

    async def send(self, topic: Topic, ticket: str, *payloads: Event) -> None:
        envs = [new_envelope(p, ticket_id=ticket, producer="test", clock=self.clock) for p in payloads]
        self.sent.extend((topic, e) for e in envs)
        await produce(self.space, topic, [encode(e)[:2] for e in envs])

    async def holder(self, ticket: str) -> dict[str, Any] | None:
        r = await self.client.get(f"/v1/tickets/{ticket}/assignment", headers=KEYS["anna"])
        return r.json() if r.status_code == 200 else None

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT envelope FROM events WHERE event_type = :t ORDER BY position"), {"t": event_type}
            )
            return [r.envelope for r in rows]

    async def held_by(self) -> dict[str, str | None]:
        return {t: (await self.holder(t) or {}).get("agent") for t in [*DUE_MINUTES, "b7", "l1", "l2"]}


@pytest.fixture
async def desk(space: Sandbox, tmp_path: Path) -> AsyncIterator[Desk]:
    (tmp_path / "people.yaml").write_text(PEOPLE)
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("assignment"),
        people_file=str(tmp_path / "people.yaml"),
        api_keys=",".join(f"{n}={n}-key" for n in KEYS),
        admin_api_keys="root=root-key",
        pass_seconds=0.2,
    )
    await asyncio.to_thread(migrate, settings, "assignment:migrations")
    clock = ManualClock(T0)
    app = build_app(settings, clock)
    engine = create_engine(space.servers.database_url, settings.database_name)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client,
        ):
            yield Desk(client, clock, engine, space)
    finally:
        await engine.dispose()


async def test_a_morning_in_berlin(desk: Desk) -> None:
    # Everyone in Berlin is off when the tickets arrive: the pool fills, nothing is given yet.
    for ticket, minutes in DUE_MINUTES.items():
        due = T0 + timedelta(minutes=minutes)
        await desk.send(Topic.LIFECYCLE, ticket, opened(opened_at=T0, customer_id="acme"))
        await desk.send(Topic.TRIAGE, ticket, triaged(queue="first-level", opened_at=T0))
        await desk.send(
            Topic.SLA,
            ticket,
            started(clock=desk.clock, due_at=due, target_seconds=minutes * 60, calendar_definition=BERLIN),
        )
    await desk.send(Topic.TRIAGE, "b7", triaged(queue="first-level", opened_at=T0 - timedelta(hours=1)))
    for ticket in ("l1", "l2"):
        await desk.send(Topic.TRIAGE, ticket, triaged(queue="technical", opened_at=T0))

    async def pooled() -> bool:
        holders = [await desk.holder(t) for t in [*DUE_MINUTES, "b7", "l1", "l2"]]
        return all(h is not None and h["team"] is not None for h in holders) and all(
            h is not None and (h["due_at"] is not None or h["ticket_id"] in ("b7", "l1", "l2")) for h in holders
        )

    await eventually(pooled, what="every ticket in its team's pool with its due instant")
    assert set((await desk.held_by()).values()) == {None}  # Berlin's agents are off; LA is asleep

    # Anna and Jonas come online (Anna by herself; Jonas by an admin); Lea is off shift, Sam too.
    assert (
        await desk.client.put("/v1/agents/anna/availability", json={"availability": "online"}, headers=KEYS["anna"])
    ).status_code == 200
    assert (
        await desk.client.put("/v1/agents/jonas/availability", json={"availability": "online"}, headers=ADMIN)
    ).status_code == 200
    lea = await desk.client.put("/v1/agents/lea/availability", json={"availability": "online"}, headers=KEYS["jonas"])
    assert lea.status_code == 403 and lea.headers["content-type"] == "application/problem+json"
    assert (
        await desk.client.put("/v1/agents/lea/availability", json={"availability": "online"}, headers=KEYS["lea"])
    ).status_code == 200

    async def five_given() -> dict[str, str | None] | None:
        held = await desk.held_by()
        return held if sum(a is not None for a in held.values()) == 5 else None

    held = await eventually(five_given, what="five tickets given (capacity 3 + 2)")
    # Only on-shift Berlin agents, never above capacity (normal tickets weigh 1).
    assert sorted(a for a in held.values() if a) == ["anna", "anna", "anna", "jonas", "jonas"]
    # Most urgent-to-breach first: the two left waiting are the latest due and the one with no clock.
    assert {t for t, a in held.items() if a is None} == {"b5", "b7", "l1", "l2"}
    await asyncio.sleep(0.6)  # more passes: still nobody over capacity, Los Angeles still asleep
    assert await desk.held_by() == held

    rule = [e["payload"] for e in await desk.events("TicketAssigned") if e["payload"]["agent"]]
    assert len(rule) == 5
    assert all(p["reason"] == "rule" and p["by"] == "assignment" and "least loaded" in p["explanation"] for p in rule)
    pooled_events = [e["payload"] for e in await desk.events("TicketAssigned") if not e["payload"]["agent"]]
    assert all(p["reason"] == "rule" and p["explanation"].startswith("queue ") for p in pooled_events)

    # A claim wins over the rule: Anna takes one of Jonas's; the passes never take it back.
    jonas_ticket = next(t for t, a in held.items() if a == "jonas")
    before = await desk.client.get(f"/v1/tickets/{jonas_ticket}/assignment", headers=KEYS["anna"])
    etag = before.headers["ETag"]
    claimed = await desk.client.post(f"/v1/tickets/{jonas_ticket}/claim", headers={**KEYS["anna"], "If-Match": etag})
    assert claimed.status_code == 200 and claimed.json()["agent"] == "anna" and claimed.json()["manual"]
    stale = await desk.client.post(f"/v1/tickets/{jonas_ticket}/claim", headers={**KEYS["jonas"], "If-Match": etag})
    assert stale.status_code == 412 and stale.json()["field"] == "If-Match"
    assert [e["payload"]["reason"] for e in stale.json()["missed_events"]] == ["claimed"]
    # Not an agent of the directory (a claim locks the ticket meanwhile: one nobody can take now).
    stranger = await desk.client.post("/v1/tickets/l1/claim", headers=KEYS["stranger"])
    assert stranger.status_code == 403 and stranger.headers["content-type"] == "application/problem+json"

    # Jonas has room again: the pass gives him the most urgent waiting one (b5; b7 has no clock).
    await eventually(lambda: _held_by(desk, "b5", "jonas"), what="b5 to jonas")
    await asyncio.sleep(0.6)
    assert (await desk.holder(jonas_ticket) or {})["agent"] == "anna"

    # Jonas goes away: after the 15-minute grace his tickets go back to the pool.
    desk.clock.set(T0 + timedelta(minutes=5))
    assert (
        await desk.client.put("/v1/agents/jonas/availability", json={"availability": "away"}, headers=KEYS["jonas"])
    ).status_code == 200
    desk.clock.set(T0 + timedelta(minutes=15))
    await asyncio.sleep(0.6)
    assert (await desk.holder("b5") or {})["agent"] == "jonas"  # 10 minutes away: within the grace
    desk.clock.set(T0 + timedelta(minutes=21))
    await eventually(lambda: _held_by(desk, "b5", None), what="b5 handed back")
    away = [e["payload"] for e in await desk.events("TicketUnassigned") if e["payload"]["reason"] == "away"]
    assert {p["agent"] for p in away} == {"jonas"} and all(p["explanation"] for p in away)
    assert "jonas" not in (await desk.held_by()).values()

    # Every decision, by rule or by hand, says why.
    told = [e["payload"] for kind in ("TicketAssigned", "TicketUnassigned") for e in await desk.events(kind)]
    assert told and all(p["reason"] and p["explanation"] and p["by"] for p in told)


async def test_one_pass_at_a_time_replays_record_nothing_twice_and_commands_by_hand(desk: Desk) -> None:
    assert (
        await desk.client.put("/v1/agents/anna/availability", json={"availability": "online"}, headers=KEYS["anna"])
    ).status_code == 200
    # Another replica mid-pass (its transaction holds the pass's row): this one makes no pass.
    async with desk.engine.begin() as other:
        await other.execute(text("SELECT 1 FROM assignment_pass FOR UPDATE"))
        await desk.send(Topic.LIFECYCLE, "r1", opened(opened_at=T0))
        await desk.send(Topic.TRIAGE, "r1", triaged(queue="first-level", opened_at=T0))
        await eventually(lambda: _held_by(desk, "r1", None), what="r1 in the Berlin pool")
        await asyncio.sleep(0.6)
        assert (await desk.holder("r1") or {})["team"] == "berlin" and await _held_by(desk, "r1", None)
    await eventually(lambda: _held_by(desk, "r1", "anna"), what="r1 to anna")
    await desk.send(Topic.LIFECYCLE, "r1", TicketClosed(closure_code=ClosureCode.WORKAROUND_ACCEPTED, by="customer"))
    closed = await eventually(lambda: _closed(desk, "r1"), what="r1 closed")
    counts = {t: len(await desk.events(t)) for t in ("TicketAssigned", "TicketUnassigned")}
    assert counts == {"TicketAssigned": 2, "TicketUnassigned": 1}
    (unassigned,) = await desk.events("TicketUnassigned")
    assert (unassigned["payload"]["agent"], unassigned["payload"]["reason"]) == ("anna", "closed")

    # Every event again, as a consumer restarting before its offsets were committed sees them.
    await produce(desk.space, Topic.LIFECYCLE, [encode(e)[:2] for t, e in desk.sent if t is Topic.LIFECYCLE])
    await produce(desk.space, Topic.TRIAGE, [encode(e)[:2] for t, e in desk.sent if t is Topic.TRIAGE])
    await desk.send(Topic.TRIAGE, "sentinel", triaged(queue="first-level", opened_at=T0))
    await eventually(lambda: _held_by(desk, "sentinel", "anna"), what="the events after the redelivered ones")
    assert {t: len(await desk.events(t)) for t in counts} == {**counts, "TicketAssigned": counts["TicketAssigned"] + 2}
    assert await desk.holder("r1") == closed

    # By hand: to a named agent, back to the pool, to a vendor; a wrong field is named.
    r2 = "r2"
    await desk.send(Topic.TRIAGE, r2, triaged(queue="technical", opened_at=T0))  # Los Angeles: asleep
    await eventually(lambda: desk.holder(r2), what="r2 in the Los Angeles pool")
    unknown = await desk.client.put(f"/v1/tickets/{r2}/assignment", json={"agent": "nobody"}, headers=KEYS["maria"])
    assert unknown.status_code == 422 and unknown.json()["field"] == "agent"
    wrong_team = await desk.client.put(
        f"/v1/tickets/{r2}/assignment", json={"agent": "maria", "team": "berlin"}, headers=KEYS["maria"]
    )
    assert wrong_team.status_code == 422 and wrong_team.json()["field"] == "team"
    # (To Anna, on shift: a holder off shift past the grace, like Maria now, would be handed back.)
    given = await desk.client.put(f"/v1/tickets/{r2}/assignment", json={"agent": "anna"}, headers=KEYS["sam"])
    assert given.status_code == 200 and (given.json()["agent"], given.json()["team"]) == ("anna", "berlin")
    assert given.headers["ETag"] == '"2"'
    vendor = await desk.client.post(
        f"/v1/tickets/{r2}/third-party", json={"vendor": "Acme Storage"}, headers={**KEYS["maria"], "If-Match": '"2"'}
    )
    assert vendor.status_code == 200 and (vendor.json()["third_party"], vendor.json()["agent"]) == (
        "Acme Storage",
        None,
    )
    back = await desk.client.delete(f"/v1/tickets/{r2}/assignment", headers={**KEYS["maria"], "If-Match": '"2"'})
    assert back.status_code == 412 and back.headers["content-type"] == "application/problem+json"
    assert [e["payload"]["reason"] for e in back.json()["missed_events"]] == ["third_party"]
    back = await desk.client.delete(f"/v1/tickets/{r2}/assignment", headers={**KEYS["maria"], "If-Match": '"3"'})
    assert back.status_code == 200 and back.json()["third_party"] is None  # in Berlin's pool (a pass may give it)
    r2_events = [e["payload"] for e in await desk.events("TicketAssigned") if e["ticket_id"] == r2]
    manual = [p for p in r2_events if p["by"] != "assignment"]  # after the DELETE, a pass may give it again
    assert [(p["agent"], p["third_party"], p["reason"], p["by"]) for p in manual] == [
        ("anna", None, "manual", "sam"),
        (None, "Acme Storage", "third_party", "maria"),
    ]

    # A restart with the same people file records nothing new on desk.people.
    people = len(await desk.events("AgentProfileChanged")) + len(await desk.events("TeamProfileChanged"))
    assert await load_people(desk.engine, desk.clock, parse_yaml(PEOPLE, "people.yaml", PeopleSpec)) == 0
    assert people == 5 + 2

    # A queue nobody serves: its ticket waits outside every pool until a team takes the queue on.
    await desk.send(Topic.TRIAGE, "q1", triaged(queue="billing", opened_at=T0))
    await eventually(lambda: desk.holder("q1"), what="q1 heard of")
    assert (await desk.holder("q1") or {})["team"] is None
    berlin = {"name": "First level, Berlin", "queues": ["first-level", "billing"], "rule": "least_loaded"}
    berlin["calendar"] = {"zone": "Europe/Berlin", "hours": {"mon-fri": [["08:00", "17:00"]]}}
    assert (await desk.client.put("/v1/teams/berlin", json=berlin, headers=KEYS["anna"])).status_code == 401
    changed = await desk.client.put("/v1/teams/berlin", json=berlin, headers=ADMIN)
    assert changed.status_code == 200 and changed.json()["members"] == ["anna", "jonas", "lea", "sam"]
    await eventually(lambda: _held_by(desk, "q1", "anna"), what="q1 adopted by Berlin and given to anna")
    twice = await desk.client.put("/v1/teams/los-angeles", json={"name": "LA", "queues": ["billing"]}, headers=ADMIN)
    assert twice.status_code == 422 and twice.json()["field"] == "queues"

    # Triage moves q1 to a queue Los Angeles serves: Anna is told, and it waits in their pool.
    moved = TriageOverridden(field=TriagedField.QUEUE, value="technical", previous="billing", by="lee", reason="disk")
    await desk.send(Topic.TRIAGE, "q1", moved)
    await eventually(lambda: _in_pool(desk, "q1", "los-angeles"), what="q1 in the Los Angeles pool")
    q1 = [e["payload"] for kind in ("TicketUnassigned", "TicketAssigned") for e in await desk.events(kind)]
    changed_queue = [(p.get("agent"), p["team"], p["reason"]) for p in q1 if p["reason"] == "queue_changed"]
    assert changed_queue == [("anna", "berlin", "queue_changed"), (None, "los-angeles", "queue_changed")]

    # r1 reopens: back to Anna, who held it and is online and on shift.
    await desk.send(Topic.LIFECYCLE, "r1", reopened())
    await eventually(lambda: _held_by(desk, "r1", "anna"), what="r1 back to anna")


async def _held_by(desk: Desk, ticket: str, agent: str | None) -> bool:
    h = await desk.holder(ticket)
    return h is not None and h["agent"] == agent and h["is_open"]


async def _in_pool(desk: Desk, ticket: str, team: str) -> bool:
    h = await desk.holder(ticket)
    return h is not None and h["team"] == team and h["agent"] is None


async def _closed(desk: Desk, ticket: str) -> dict[str, Any] | None:
    h = await desk.holder(ticket)
    return h if h is not None and not h["is_open"] else None
