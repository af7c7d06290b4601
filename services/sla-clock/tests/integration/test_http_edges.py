"""sla-clock's HTTP API cannot hurt its consumer: previews with
instants out of range are 422 naming the field and leave real tickets' clocks working, a preview
runs off the event loop so `/healthz` answers meanwhile, a week out of range is 422."""

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sla_clock.entrypoints.app import build_app
from sla_clock.service_layer.preview import Previewer
from sla_clock.settings import Settings
from supportdesk_contract.catalogue import Priority
from supportdesk_contract.clock import ManualClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import dead_letter_topic
from supportdesk_devstack.testing import Sandbox, eventually, in_process, produce, read_topic
from supportdesk_devstack.testing.events import GOLD, opened, triaged
from supportdesk_service.migrations import migrate

pytestmark = pytest.mark.integration

AGENT = {"Authorization": "Bearer agent-key"}
GOLD_HIGH = {"policy": "data-insights", "plan": "gold", "priority": "high", "opened_at": "2026-11-25T16:30:00-08:00"}
T0 = datetime(2026, 11, 23, 17, tzinfo=UTC)  # Monday 09:00 Pacific


@pytest.fixture
async def http(space: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        DATABASE_URL=space.servers.database_url,
        KAFKA_BOOTSTRAP_SERVERS=space.servers.bootstrap_servers,
        KAFKA_TOPIC_PREFIX=space.prefix,
        database_name=space.database("sla-clock"),
        api_keys="agent-key",
    )
    await asyncio.to_thread(migrate, settings, "sla_clock:migrations")
    app = build_app(settings, ManualClock(T0))
    async with in_process(app) as client:
        yield client


async def open_real_ticket(space: Sandbox, ticket: str, opened_at: datetime = T0) -> None:
    events = [opened(opened_at=opened_at), triaged(priority=Priority.HIGH, opened_at=opened_at, **GOLD)]
    for event in events:
        env = new_envelope(event, ticket_id=ticket, producer="test", clock=ManualClock(opened_at))
        await produce(space, event.topic, [encode(env)[:2]])


async def test_previews_out_of_range_are_422_and_real_tickets_still_get_clocks(
    space: Sandbox, http: httpx.AsyncClient
) -> None:
    good = await http.post("/v1/sla/preview", json=GOLD_HIGH)
    assert good.status_code == 200, good.text
    for opened_at in ["9999-12-31T00:00:00Z", "9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z"]:
        r = await http.post("/v1/sla/preview", json={**GOLD_HIGH, "opened_at": opened_at})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in r.json()["errors"]] == ["body.opened_at"]
    assert (await http.post("/v1/sla/preview", json=GOLD_HIGH)).json() == good.json()

    await open_real_ticket(space, "ticket-after-hostile-previews")

    async def clocks() -> Any:
        r = await http.get("/v1/tickets/ticket-after-hostile-previews/sla", headers=AGENT)
        return r.json()["clocks"] if r.status_code == 200 else None

    found = await eventually(clocks, what="the real ticket's SLA clocks")
    first = next(c for c in found if c["clock"] == "first_response")
    assert first["state"] == "running" and first["due_at"] is not None


async def test_healthz_answers_while_a_preview_is_computing(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real = Previewer.__call__

    def slow_preview(self: Previewer, req: Any) -> dict[str, Any]:
        # Stands for CPU-heavy work: it holds whatever thread runs it until released.
        entered.set()
        release.wait(timeout=30)  # released by the test once /healthz answered (or after 30 s)
        return real(self, req)

    monkeypatch.setattr(Previewer, "__call__", slow_preview)
    finished: list[str] = []

    async def preview() -> None:
        r = await http.post("/v1/sla/preview", json=GOLD_HIGH)
        assert r.status_code == 200, r.text
        finished.append("preview")

    async def healthz() -> None:
        await asyncio.to_thread(entered.wait, 30)
        r = await http.get("/healthz")
        assert r.status_code == 200
        finished.append("healthz")
        release.set()

    await asyncio.gather(preview(), healthz())
    assert finished == ["healthz", "preview"]


async def test_weekly_report_out_of_range_is_422_naming_the_week(http: httpx.AsyncClient) -> None:
    for week in ["9999-W52", "0001-W01"]:
        r = await http.get("/v1/sla/reports/weekly", params={"week": week}, headers=AGENT)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["query.week"]
    assert (await http.get("/v1/sla/reports/weekly", params={"week": "2026-W48"}, headers=AGENT)).status_code == 200


async def test_clocks_past_their_due_instant_are_listed_as_breached_most_recent_first_not_at_risk(
    space: Sandbox, http: httpx.AsyncClient
) -> None:
    await open_real_ticket(space, "older", T0 - timedelta(days=30))
    await open_real_ticket(space, "newer", T0 - timedelta(days=20))

    async def breached() -> list[dict[str, Any]] | None:
        listed: list[dict[str, Any]] = (await http.get("/v1/sla/breached", headers=AGENT)).json()
        return listed if len(listed) == 2 else None  # the scheduler fires both first responses' breaches

    listed = await eventually(breached, what="the overdue tickets' breaches")
    assert [(c["ticket_id"], c["clock"], c["state"]) for c in listed] == [
        ("newer", "first_response", "running"),
        ("older", "first_response", "running"),
    ]
    assert (await http.get("/v1/sla/at-risk", headers=AGENT)).json() == []


async def test_an_event_with_an_instant_out_of_range_is_dead_lettered_and_later_tickets_get_clocks(
    space: Sandbox, http: httpx.AsyncClient
) -> None:
    for hostile in ("from-the-year-9999", "again-from-the-year-9999"):  # the second found the table corrupted
        await open_real_ticket(space, hostile, opened_at=datetime(9999, 12, 31, tzinfo=UTC))
    await open_real_ticket(space, "ticket-after-the-year-9999")

    async def clocks() -> Any:
        r = await http.get("/v1/tickets/ticket-after-the-year-9999/sla", headers=AGENT)
        return r.json()["clocks"] if r.status_code == 200 else None

    assert await eventually(clocks, what="the next ticket's SLA clocks")
    dead = await read_topic(space, dead_letter_topic("sla-clock"), expect=2)
    assert len(dead) == 2
    assert all(b"outside the supported range" in dict(d.headers)["dlq.reason"] for d in dead)
