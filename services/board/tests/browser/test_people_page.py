"""Who holds what, on the dashboard in a real browser (Debian's chromium driven by Playwright)
against the real board process on the real broker and database: the test plays the assignment
service (its people and assignment events) and sla-clock. The assignee and team columns, the
unassigned age, the "Mine", "My team's" and "Unassigned" choices, the workload panel, a claim that
arrives while the page is open, the timeline's words for it, and presence: the page says it is
viewing the ticket whose timeline is open, and shows a colleague replying until that expires.
Screenshots land in .data/artifacts/board/."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from supportdesk_contract.catalogue import PEOPLE_KEY, AssignmentReason, Availability, ClockKind, Event, SlaAtRisk
from supportdesk_contract.clock import ManualClock, SystemClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.config import REPO_ROOT
from supportdesk_devstack.testing import RunningService, Sandbox, produce
from supportdesk_devstack.testing.events import (
    GOLD,
    agent_profile,
    assigned,
    availability,
    opened,
    started,
    team_profile,
    triaged,
)

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("BOARD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO_ROOT / ".data" / "artifacts" / "board"

try:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import Page, async_playwright, expect
except ImportError:  # pragma: no cover - only where the dev requirements are not installed
    async_playwright = None  # type: ignore[assignment]

if async_playwright is None or CHROMIUM is None:
    pytest.skip(
        "browser tests need Debian's chromium (apt-get install chromium; `make setup-test` does it) and the"
        " playwright package; skipped: "
        + ("playwright is not installed" if async_playwright is None else "no chromium binary on the PATH"),
        allow_module_level=True,
    )

CLOCK = SystemClock()
NOW = CLOCK.now()
M = timedelta(minutes=1)


async def publish(space: Sandbox, ticket_id: str, topic: Topic, producer: str, *events: Event) -> None:
    envs = [new_envelope(e, ticket_id=ticket_id, producer=producer, clock=CLOCK) for e in events]
    await produce(space, topic, [encode(env)[:2] for env in envs])


async def a_ticket(space: Sandbox, number: str, subject: str, queue: str, opened_ago: timedelta) -> str:
    ticket_id = f"tkt-{uuid.uuid4().hex[:8]}"
    at = NOW - opened_ago
    await publish(
        space, ticket_id, Topic.LIFECYCLE, "intake", opened(number=number, subject=subject, opened_at=at, **GOLD)
    )
    await publish(space, ticket_id, Topic.TRIAGE, "triage", triaged(queue=queue, opened_at=at, **GOLD))
    started_at = {"started_at": at, "target_seconds": 4 * 3600, "due_at": at + 4 * 60 * M}
    await publish(space, ticket_id, Topic.SLA, "sla-clock", started(**started_at))
    return ticket_id


def row(page: Page, ticket_id: str) -> Any:
    return page.locator(f'#tickets tbody tr[data-ticket="{ticket_id}"]')


def workload(page: Page, agent_id: str) -> Any:
    return page.locator(f'#workload tbody tr[data-agent="{agent_id}"]')


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_mine_my_teams_unassigned_and_the_workload_in_a_real_browser(
    space: Sandbox, services: Callable[..., RunningService]
) -> None:
    board = services(
        "board", BOARD_STREAM_POLL_SECONDS="0.2", BOARD_API_KEYS="pat=pat-key,sam=sam-key", BOARD_PRESENCE_SECONDS="4"
    )
    await publish(
        space,
        PEOPLE_KEY,
        Topic.PEOPLE,
        "assignment",
        team_profile("tier-1", name="Tier 1", members=("pat",), lead="pat", queues=("technical",)),
        team_profile("billing-team", name="Billing", members=("sam",), queues=("billing",)),
        agent_profile("pat", name="Pat Lee", teams=("tier-1",), capacity=6),
        agent_profile("sam", name="Sam Roe", teams=("billing-team",), capacity=4),
        availability("pat", Availability.ONLINE),
        availability("sam", Availability.AWAY),
    )
    checkout = await a_ticket(space, "TKT-201", "Checkout fails", "technical", 40 * M)
    export = await a_ticket(space, "TKT-202", "Export is slow", "technical", 30 * M)
    invoice = await a_ticket(space, "TKT-203", "Wrong invoice", "billing", 20 * M)
    await publish(space, checkout, Topic.ASSIGNMENT, "assignment", assigned("pat", "tier-1", explanation="on shift"))
    await publish(space, export, Topic.ASSIGNMENT, "assignment", assigned(None, "tier-1"))
    await publish(space, invoice, Topic.ASSIGNMENT, "assignment", assigned("sam", "billing-team"))
    due = NOW - 40 * M + 4 * 60 * M
    await publish(
        space,
        checkout,
        Topic.SLA,
        "sla-clock",
        SlaAtRisk(clock=ClockKind.FIRST_RESPONSE, threshold_percent=75, due_at=due),
    )

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        try:
            await page.goto(board.url + "/")
            await page.fill("#key-input", "pat-key")
            await page.keyboard.press("Enter")
            await expect(page.locator("#live-state")).to_have_text("live", timeout=15_000)
            await expect(page.locator("#me")).to_have_text("Signed in as Pat Lee, of tier-1.", timeout=15_000)
            for ticket_id in (checkout, export, invoice):
                await expect(row(page, ticket_id).locator("td.team")).not_to_be_empty(timeout=30_000)
            await expect(row(page, checkout).locator("td.assignee")).to_have_text("Pat Lee")
            await expect(row(page, checkout).locator("td.team")).to_have_text("Tier 1")
            await expect(row(page, invoice).locator("td.assignee")).to_have_text("Sam Roe")
            # Nobody holds the export: it has waited since it opened, 30 minutes ago, and counts on.
            waiting = row(page, export).locator("td.assignee")
            await expect(waiting).to_have_text(re.compile(r"^unassigned 3\dm \d+s$"))
            first = await waiting.inner_text()
            await expect(waiting).not_to_have_text(first, timeout=5_000)

            # The workload: open (against capacity), at risk, breached per agent; each team's pool.
            await expect(workload(page, "pat").locator("td")).to_have_text(["Pat Lee (online)", "1 / 6", "1", "0"])
            await expect(workload(page, "sam").locator("td")).to_have_text(["Sam Roe (away)", "1 / 4", "0", "0"])
            pool = page.locator('#team-pools li[data-team="tier-1"]')
            await expect(pool).to_have_text(re.compile(r"^Tier 1: 1 unassigned, oldest waiting 3\dm \d+s$"))
            await shot(page, "10-people")

            results = await Axe().run(page)
            (ARTIFACTS / "axe-report-people.txt").write_text(results.generate_report())
            assert results.violations_count == 0, results.generate_report()

            # The choices, as an agent clicks them (each applies at once).
            await page.check("#f-mine")
            await expect(page.locator("#tickets tbody tr")).to_have_count(1)
            await expect(row(page, checkout)).to_be_visible()
            await page.check("#f-team")
            await expect(page.locator("#tickets tbody tr")).to_have_count(2)
            await expect(row(page, export)).to_be_visible()
            await page.check("#f-unassigned")
            await expect(page.locator("#tickets tbody tr")).to_have_count(1)
            await expect(row(page, export)).to_be_visible()

            # Pat claims the export while the page shows "Mine": it arrives without a reload, and
            # leaves "Unassigned"; the workload follows.
            await page.check("#f-mine")
            await expect(row(page, checkout)).to_be_visible()
            await expect(row(page, export)).to_have_count(0)
            # No wait here: the stream resumes from the change the list was read at, so a claim
            # landing between the list's read and the stream's start still arrives.
            claim = assigned("pat", "tier-1", by="pat", reason=AssignmentReason.CLAIMED)
            await produce(
                space,
                Topic.ASSIGNMENT,
                [
                    encode(
                        new_envelope(claim, ticket_id=export, producer="assignment", clock=ManualClock(CLOCK.now()))
                    )[:2]
                ],
            )
            await expect(row(page, export)).to_be_visible(timeout=30_000)
            await expect(row(page, export).locator("td.assignee")).to_have_text("Pat Lee")
            await expect(workload(page, "pat").locator("td.open")).to_have_text("2 / 6", timeout=15_000)
            await expect(page.locator('#team-pools li[data-team="tier-1"]')).to_have_text("Tier 1: none unassigned")
            await page.check("#f-unassigned")
            await expect(page.locator("#tickets tbody tr")).to_have_count(0)

            # The timeline says who gave it to whom, and why.
            await page.check("#f-mine")
            await row(page, export).focus()
            presence_url = f"{board.url}/v1/board/tickets/{export}/presence"
            async with page.expect_request(lambda r: r.method == "POST" and r.url == presence_url) as said:
                await page.keyboard.press("Enter")
            assert json.loads((await said.value).post_data or "{}") == {"activity": "viewing"}
            await expect(page.locator("#timeline")).to_contain_text(
                "pat: assigned to pat of team tier-1, claimed by the agent"
            )
            await expect(page.locator("#timeline")).to_contain_text(
                "assigned to team tier-1's pool, by the team's rule"
            )
            await shot(page, "11-people-claimed")

            # Sam replies to the checkout ticket: pat's page says so on the row, until the word
            # expires (4 seconds here) without a refresh. Pat's own viewing is not shown to pat.
            async with board.client("sam-key") as sam:
                replying = await sam.post(f"/v1/board/tickets/{checkout}/presence", json={"activity": "replying"})
                assert replying.status_code == 202, replying.text
            here = row(page, checkout).locator("span.presence")
            await expect(here).to_have_text("Sam Roe is replying", timeout=10_000)
            await shot(page, "12-presence")
            await expect(row(page, export).locator("span.presence")).to_have_text("")
            await expect(here).to_have_text("", timeout=10_000)
        finally:
            await browser.close()
