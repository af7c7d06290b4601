"""The board as of an instant, against what it showed live at that instant: the board runs as a real
process on the real broker and database; the test plays the other services in stages, reads the
board live after each (noting the instant), and at the end asks for every read `as_of` each instant.
An event the board hears of late is, as of an instant after it happened, there."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from supportdesk_contract.catalogue import (
    AgentResponded,
    ClockKind,
    ClosureCode,
    Event,
    NotificationSent,
    Priority,
    SlaAtRisk,
    SlaBreached,
    SlaClockStopped,
    SlaMet,
    TicketClosed,
    TicketEscalated,
)
from supportdesk_contract.clock import Clock, ManualClock, SystemClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.testing import RunningService, Sandbox, eventually, produce
from supportdesk_devstack.testing.events import GOLD, opened, started, triaged

pytestmark = pytest.mark.integration

CLOCK = SystemClock()  # the board process runs on the system clock: the instants are on the same one
M = timedelta(minutes=1)
ACME = {"customer_id": "acme", "requester_email": "ann@acme.example", **GOLD}


async def send(space: Sandbox, ticket: str, topic: Topic, producer: str, *events: Event, clock: Clock = CLOCK) -> None:
    envs = [new_envelope(e, ticket_id=ticket, producer=producer, clock=clock) for e in events]
    await produce(space, topic, [encode(env)[:2] for env in envs])


async def read(board: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    r = await board.get(path, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    body.pop("as_of", None)  # the summary says when it was asked; compared apart
    body.pop("change", None)  # the list's resume point for the live stream, not what it showed
    # A countdown is computed at the read's own instant (a live read comes a few ms after the
    # moment recorded): its instant is checked apart, the rest of the row must be equal.
    for ticket in [body, *body.get("tickets", [])]:
        countdown = ticket.pop("business_time", None)
        if countdown is not None and "as_of" in params:
            assert datetime.fromisoformat(countdown["as_of"]) == datetime.fromisoformat(params["as_of"])
        # The same for the time an open ticket nobody holds has waited: counted to the read's instant.
        waited = ticket.pop("unassigned_seconds", None)
        if waited is not None and "as_of" in params:
            since = datetime.fromisoformat(ticket["unassigned_since"])
            assert waited == int((datetime.fromisoformat(params["as_of"]) - since).total_seconds())
    return body


class Moment:
    """What the board showed live at one instant."""

    def __init__(self, at: datetime, reads: dict[str, dict[str, Any]]) -> None:
        self.at, self.reads = at, reads


READS: dict[str, tuple[str, dict[str, Any]]] = {}


async def snapshot(board: httpx.AsyncClient, ids: dict[str, str]) -> Moment:
    """Everything read live, with the instant: taken when the board has applied what was sent and
    nothing more is in flight, so the reads are the board at that instant."""
    at = CLOCK.now()
    reads = {name: await read(board, path, **params) for name, (path, params) in READS.items()}
    return Moment(at, reads)


async def has(board: httpx.AsyncClient, ticket_id: str, probe: Callable[[dict[str, Any]], bool]) -> bool:
    r = await board.get(f"/v1/board/tickets/{ticket_id}")
    return r.status_code == 200 and probe(r.json())


async def test_reads_as_of_an_instant_equal_what_the_board_showed_live_then(
    space: Sandbox, services: Callable[..., RunningService]
) -> None:
    svc = services("board")
    ids = {name: f"tkt-{name}-{uuid.uuid4().hex[:6]}" for name in ("export", "login")}
    export, login = ids["export"], ids["login"]
    READS.clear()
    READS.update(
        {
            "export": (f"/v1/board/tickets/{export}", {}),
            "login": (f"/v1/board/tickets/{login}", {}),
            "summary": ("/v1/board/summary", {}),
            "at_risk": ("/v1/board/tickets", {"at_risk_within": 1800}),
            "open": ("/v1/board/tickets", {"open": "true", "sort": "priority"}),
        }
    )
    moments: list[Moment] = []
    async with svc.client() as board:
        # 1. Two tickets open; the export's first response due in 10 minutes (at risk within 30).
        await send(space, export, Topic.LIFECYCLE, "intake", opened(number="TKT-1", clock=CLOCK, **ACME))
        await send(space, export, Topic.TRIAGE, "triage", triaged(priority=Priority.HIGH, clock=CLOCK, **GOLD))
        await send(
            space, export, Topic.SLA, "sla-clock", started(due_at=CLOCK.now() + 10 * M, calendar="pacific", clock=CLOCK)
        )
        await send(space, login, Topic.LIFECYCLE, "intake", opened(number="TKT-2", clock=CLOCK, **ACME))
        await eventually(lambda: has(board, export, lambda t: t["next_due_at"] is not None), what="stage 1")
        await eventually(lambda: has(board, login, lambda t: t["number"] == "TKT-2"), what="stage 1")
        moments.append(await snapshot(board, ids))

        # 2. The export answered in time; the login triaged urgent, past due, breached and escalated.
        await send(
            space, export, Topic.LIFECYCLE, "intake", AgentResponded(agent="bob", body="on it", confirms_receipt=True)
        )
        await send(
            space,
            export,
            Topic.SLA,
            "sla-clock",
            SlaClockStopped(clock=ClockKind.FIRST_RESPONSE, stopped_at=CLOCK.now(), elapsed_business_seconds=60),
            SlaMet(clock=ClockKind.FIRST_RESPONSE, due_at=CLOCK.now() + 10 * M, elapsed_business_seconds=60),
        )
        await send(space, login, Topic.TRIAGE, "triage", triaged(priority=Priority.URGENT, clock=CLOCK, **GOLD))
        await send(
            space,
            login,
            Topic.SLA,
            "sla-clock",
            started(due_at=CLOCK.now() - M, calendar="pacific", clock=CLOCK),
            SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=80, due_at=CLOCK.now()),
            SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=CLOCK.now() - M),
        )
        await send(
            space,
            login,
            Topic.ESCALATION,
            "escalation",
            TicketEscalated(level=2, route="account_manager", reason="breached", recipients=("am@sd.example",)),
        )
        await eventually(lambda: has(board, export, lambda t: t["clocks"]["first_response"]["met"]), what="stage 2")
        await eventually(lambda: has(board, login, lambda t: t["escalation_level"] == 2 and t["breached"]), what="2")
        moments.append(await snapshot(board, ids))
        between = CLOCK.now()  # after the second moment, before the third

        # 3. The export closed.
        await send(
            space,
            export,
            Topic.LIFECYCLE,
            "intake",
            TicketClosed(closure_code=ClosureCode.CUSTOMER_CONFIRMED, by="customer"),
        )
        await eventually(lambda: has(board, export, lambda t: t["status"] == "closed"), what="stage 3")
        moments.append(await snapshot(board, ids))

        # 4. A late event: a notification that happened between the second and third moments, which
        # the board hears of only now.
        late = NotificationSent(
            cause_event_id=uuid.uuid4(),
            recipient="am@sd.example",
            channel="email",
            template="escalated",
            sent_at=between,
        )
        await send(space, login, Topic.NOTIFICATIONS, "notifier", late, clock=ManualClock(between))
        await eventually(lambda: has(board, login, lambda t: t["notifications_sent"] == 1), what="the late event")

        assert moments[0].reads["at_risk"]["tickets"][0]["ticket_id"] == export  # the scenario did what it says
        assert [t["ticket_id"] for t in moments[1].reads["at_risk"]["tickets"]] == []
        assert moments[2].reads["export"]["status"] == "closed"

        for i, moment in enumerate(moments):
            when = moment.at.isoformat()
            for name, (path, params) in READS.items():
                answered = await read(board, path, **params, as_of=when)
                if i == 2 and name in ("login", "open"):
                    # The late notification had happened by then: as of then, it is there.
                    assert answered != moment.reads[name]
                    continue
                assert answered == moment.reads[name], (i, name)
            # The summary's own instant is the one asked for.
            answered_at = (await board.get("/v1/board/summary", params={"as_of": when})).json()["as_of"]
            assert datetime.fromisoformat(answered_at) == moment.at

        late_seen = await read(board, f"/v1/board/tickets/{login}", as_of=moments[2].at.isoformat())
        assert late_seen["notifications_sent"] == 1
        assert late_seen["timeline"][-1]["event_type"] == "NotificationSent"
        assert datetime.fromisoformat(late_seen["updated_at"]) == between  # the latest event's instant
        changed = ("notifications_sent", "timeline", "updated_at")
        assert {k: v for k, v in late_seen.items() if k not in changed} == {
            k: v for k, v in moments[2].reads["login"].items() if k not in changed
        }

        # Before the ticket existed: 404, problem+json; an instant without an offset: 422.
        before = (moments[0].at - timedelta(hours=1)).isoformat()
        missing = await board.get(f"/v1/board/tickets/{export}", params={"as_of": before})
        assert (missing.status_code, missing.headers["content-type"]) == (404, "application/problem+json")
        naive = await board.get(f"/v1/board/tickets/{export}", params={"as_of": "2026-01-01T02:13:00"})
        assert (naive.status_code, naive.headers["content-type"]) == (422, "application/problem+json")
