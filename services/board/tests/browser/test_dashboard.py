"""The dashboard in a real browser (Debian's chromium driven by Playwright) against the real stack:
intake, triage, escalation, notifier and board as processes; the test plays sla-clock, writing its
clock events (with the calendar they carry) and then breaches, as the catalogue defines them (the
board's tests never import another service). Tickets go in by web, email and phone.
Screenshots land in .data/artifacts/board/."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from supportdesk_contract.catalogue import CalendarDefinition, ClockKind, Event, SlaBreached, SlaClockStarted
from supportdesk_contract.clock import SystemClock
from supportdesk_contract.envelope import encode, new_envelope
from supportdesk_contract.topics import Topic
from supportdesk_devstack.config import REPO_ROOT
from supportdesk_devstack.testing import TEST_API_KEY, RunningService, Sandbox, SmtpSink, eventually, produce

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("BOARD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO_ROOT / ".data" / "artifacts" / "board"
DEMO = REPO_ROOT / "deploy" / "demo"
INBOUND_AUTH = "mta:pipe-secret"
PHONE_SECRET = "phone-secret"

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
TODAY = CLOCK.now()
# Open around the clock in UTC: the countdown ticks whenever the test runs.
ALWAYS = CalendarDefinition(
    name="always-open",
    zone="UTC",
    hours=tuple((day, 0, 1440) for day in range(7)),
    holidays_from=date(TODAY.year, 1, 1),
    holidays_until=date(TODAY.year + 1, 12, 31),
)


async def as_sla_clock(space: Sandbox, ticket_id: str, *events: Event) -> None:
    envs = [new_envelope(e, ticket_id=ticket_id, producer="sla-clock", clock=CLOCK) for e in events]
    await produce(space, Topic.SLA, [encode(env)[:2] for env in envs])


def clock_started(due: datetime) -> SlaClockStarted:
    return SlaClockStarted(
        clock=ClockKind.FIRST_RESPONSE,
        started_at=CLOCK.now(),
        due_at=due,
        target_seconds=4 * 3600,
        calendar=ALWAYS.name,
        policy_version="data-insights@2026-11-22.1",
        calendar_definition=ALWAYS,
    )


def phone_headers(body: bytes) -> dict[str, str]:
    ts = str(int(SystemClock().now().timestamp()))
    sig = "sha256=" + hmac.new(PHONE_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Supportdesk-Timestamp": ts, "X-Supportdesk-Signature": sig, "Content-Type": "application/json"}


async def open_tickets(intake: RunningService) -> dict[str, str]:
    """One ticket per channel; returns channel -> ticket id."""
    out: dict[str, str] = {}
    async with intake.client(api_key=None) as http:
        web = await http.post(
            "/v1/tickets",
            json={
                "requester_email": "dana@customer.example",
                "subject": "Checkout page crashes",
                "description": "The checkout page crashes after entering a card.",
            },
        )
        assert web.status_code == 202, web.text
        out["web"] = web.json()["ticket_id"]
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "Ops <ops@harbor.example>", "support@supportdesk.example", "Feed down"
        msg["Message-ID"] = "<board-e2e-1@harbor.example>"
        msg.set_content("The nightly warehouse feed did not run.")
        email = await http.post(
            "/v1/inbound/email",
            content=bytes(msg),
            headers={
                "Content-Type": "message/rfc822",
                "Authorization": "Basic " + base64.b64encode(INBOUND_AUTH.encode()).decode(),
            },
        )
        assert email.status_code == 201, email.text
        out["email"] = email.json()["ticket_id"]
        call = json.dumps(
            {
                "call_id": "board-pbx-1",
                "caller_number": "+1 316 555 0171",
                "caller_name": "Town Clerk",
                "agent": "first-level: Sam",
                "summary": "Payment portal rejects every card",
                "priority": "urgent",
            }
        ).encode()
        phone = await http.post("/v1/inbound/phone", content=call, headers=phone_headers(call))
        assert phone.status_code == 201, phone.text
        out["phone"] = phone.json()["ticket_id"]
    return out


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def row(page: Page, ticket_id: str) -> Any:
    return page.locator(f'#tickets tbody tr[data-ticket="{ticket_id}"]')


async def test_the_dashboard_live_in_a_real_browser(
    space: Sandbox,
    services: Callable[..., RunningService],
    tmp_path: Path,
) -> None:
    smtp = SmtpSink()
    smtp.controller.start()
    try:
        await _dashboard(space, services, tmp_path, smtp)
    finally:
        smtp.controller.stop()


async def _dashboard(
    space: Sandbox,
    services: Callable[..., RunningService],
    tmp_path: Path,
    smtp: SmtpSink,
) -> None:
    board = services("board", BOARD_STREAM_POLL_SECONDS="0.2")
    intake = services(
        "intake",
        INTAKE_INBOUND_BASIC_AUTH=INBOUND_AUTH,
        INTAKE_PHONE_WEBHOOK_SECRET=PHONE_SECRET,
        INTAKE_STAFF_DOMAINS="supportdesk.example",
        INTAKE_CUSTOMERS_FILE=str(DEMO / "customers.yaml"),
    )
    services("triage")
    services("escalation", ESCALATION_DIRECTORY_FILE=str(DEMO / "escalation.yaml"))
    services(
        "notifier",
        NOTIFIER_SMTP_HOST="127.0.0.1",
        NOTIFIER_SMTP_PORT=str(smtp.port),
        NOTIFIER_ROUTING_FILE=str(DEMO / "routing.yaml"),
    )
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        try:
            await page.goto(board.url + "/")
            # The key is asked once, kept in sessionStorage, never put in a URL.
            await expect(page.locator("#key-dialog")).to_be_visible()
            await page.fill("#key-input", TEST_API_KEY)
            await page.keyboard.press("Enter")
            await expect(page.locator("#live-state")).to_have_text("live", timeout=15_000)
            assert await page.evaluate("sessionStorage.getItem('supportdesk.board.key')") == TEST_API_KEY
            assert TEST_API_KEY not in page.url

            ids = await open_tickets(intake)
            for ticket_id in ids.values():  # they appear without a reload
                await expect(row(page, ticket_id)).to_be_visible(timeout=30_000)
                await expect(row(page, ticket_id).locator("td.number")).to_contain_text("TKT-", timeout=30_000)
            dues = {ticket_id: CLOCK.now() + timedelta(hours=4) for ticket_id in ids.values()}
            for ticket_id, due in dues.items():  # a running first-response clock, counted in business time
                await as_sla_clock(space, ticket_id, clock_started(due))
                due_cell = row(page, ticket_id).locator("td.due")
                await expect(due_cell).to_have_text(re.compile(r"^(4h 0m 0s|3h 59m \d+s)$"), timeout=30_000)
            await expect(row(page, ids["phone"]).locator("td").nth(3)).to_have_text("urgent")
            await shot(page, "01-live-queue")

            # Accessibility: axe-core (vendored in axe-playwright-python) finds no violation.
            results = await Axe().run(page)
            (ARTIFACTS / "axe-report.txt").write_text(results.generate_report())
            assert results.violations_count == 0, results.generate_report()

            # Filters and search, as a person uses them.
            await page.select_option("#f-priority", "urgent")
            await page.click("#filters button[type=submit]")
            await expect(page.locator("#tickets tbody tr")).to_have_count(1)
            await expect(row(page, ids["phone"])).to_be_visible()
            await page.select_option("#f-priority", "")
            await page.fill("#f-q", "warehouse")
            await page.click("#filters button[type=submit]")
            await expect(page.locator("#tickets tbody tr")).to_have_count(1)
            await expect(row(page, ids["email"])).to_be_visible()
            await shot(page, "02-search")
            await page.fill("#f-q", "")
            await page.click("#filters button[type=submit]")
            await expect(page.locator("#tickets tbody tr")).to_have_count(3)

            # Breaches, as sla-clock's scheduler emits them; escalation and notifier act on them.
            for ticket_id, due in dues.items():
                await as_sla_clock(space, ticket_id, SlaBreached(clock=ClockKind.FIRST_RESPONSE, due_at=due))
            for ticket_id in ids.values():
                await expect(row(page, ticket_id)).to_have_class("red", timeout=30_000)
            await expect(page.locator("#breached-list li")).to_have_count(3, timeout=15_000)
            await shot(page, "03-breached")

            # Keyboard: focus a row, Enter opens its timeline with every service's events.
            await row(page, ids["phone"]).focus()
            await page.keyboard.press("Enter")
            await expect(page.locator("#timeline-panel")).to_be_visible()

            async def producers() -> set[str]:
                await row(page, ids["phone"]).focus()
                await page.keyboard.press("Enter")
                await page.wait_for_timeout(300)
                text = await page.locator("#timeline").inner_text()
                return {p for p in ("intake", "triage", "sla-clock", "escalation", "notifier") if f"[{p}," in text}

            async def every_service() -> bool:
                return len(await producers()) == 5

            await eventually(every_service, timeout=60, what="the timeline to show every service's events")
            await shot(page, "04-timeline")
        finally:
            await browser.close()
