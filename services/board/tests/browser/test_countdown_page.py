"""The page's countdowns run in business time: a clock whose calendar is closed stands still, one
whose calendar is open ticks down; one without a calendar (its events predate carried calendars)
counts wall time and says so. The page is the board's real static page in Debian's chromium;
the board's API answers are fixed here (page.route) so the calendar state is known."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from supportdesk_contract.clock import SystemClock

CHROMIUM = os.environ.get("BOARD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
STATIC = Path(__file__).resolve().parents[2] / "board" / "static"
BASE = "http://board.test"

try:
    from playwright.async_api import Route, async_playwright, expect
except ImportError:  # pragma: no cover - only where the dev requirements are not installed
    pytest.skip("browser tests need the playwright package; skipped: not installed", allow_module_level=True)

if CHROMIUM is None:
    pytest.skip(
        "browser tests need Debian's chromium (apt-get install chromium; `make setup-test` does it); skipped: "
        "no chromium binary on the PATH",
        allow_module_level=True,
    )


def iso(t: datetime) -> str:
    return t.isoformat()


def ticket(ticket_id: str, number: str, due: datetime, business: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "number": number,
        "subject": f"Subject of {number}",
        "customer_id": "metro-health",
        "priority": "high",
        "status": "new",
        "queue": "first-level",
        "is_open": True,
        "escalation_level": 0,
        "breached": False,
        "at_risk": False,
        "next_due_at": iso(due),
        "business_time": business,
    }


async def test_a_countdown_stands_still_while_the_calendar_is_closed_and_ticks_while_open() -> None:
    now = SystemClock().now()
    closed_until = now + timedelta(minutes=10)
    # Closed for ten minutes, then an hour of business time is left: due in 70 minutes of wall time.
    closed = ticket(
        "t-closed",
        "TKT-1",
        now + timedelta(minutes=70),
        {
            "calendar": "test",
            "as_of": iso(now),
            "remaining_seconds": 3600,
            "open": False,
            "open_periods": [[iso(closed_until), iso(closed_until + timedelta(hours=8))]],
            "valid_until": iso(closed_until + timedelta(hours=8)),
        },
    )
    # Open for the next hour: ten minutes left, ticking.
    running = ticket(
        "t-open",
        "TKT-2",
        now + timedelta(minutes=10),
        {
            "calendar": "test",
            "as_of": iso(now),
            "remaining_seconds": 600,
            "open": True,
            "open_periods": [[iso(now), iso(now + timedelta(hours=1))]],
            "valid_until": iso(now + timedelta(hours=1)),
        },
    )
    # A clock whose events carried no calendar: the board gives no countdown (business_time null).
    uncounted = ticket("t-old", "TKT-3", now + timedelta(minutes=30), None)
    summary = {
        "open": [],
        "at_risk": 0,
        "at_risk_window_seconds": 3600,
        "breached_open": 0,
        "escalations_by_level": [],
        "attainment": {"week": {"rows": []}, "today": {"rows": []}},
    }

    async def board_api(route: Route) -> None:
        path = route.request.url.removeprefix(BASE).split("?")[0]
        if path == "/":
            await route.fulfill(path=str(STATIC / "index.html"), content_type="text/html")
        elif path.startswith("/static/"):
            await route.fulfill(path=str(STATIC / path.removeprefix("/static/")))
        elif path == "/v1/board/tickets":
            only_breached = "breached=true" in route.request.url or "at_risk_within" in route.request.url
            body = {"tickets": [] if only_breached else [closed, running, uncounted], "next_cursor": None}
            await route.fulfill(json=body)
        elif path == "/v1/board/summary":
            await route.fulfill(json=summary)
        elif path == "/v1/board/stream":  # a live stream that has nothing to say
            ready = "event: ready\nid: 0\ndata: " + json.dumps({"from": 0}) + "\n\n"
            await route.fulfill(status=200, content_type="text/event-stream", body=ready)
        else:
            await route.fulfill(status=404)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page()
        try:
            await page.route(f"{BASE}/**", board_api)
            await page.goto(f"{BASE}/")
            await page.fill("#key-input", "agent-key")
            await page.keyboard.press("Enter")
            closed_due = page.locator('#tickets tbody tr[data-ticket="t-closed"] td.due')
            open_due = page.locator('#tickets tbody tr[data-ticket="t-open"] td.due')
            # Wall time to the due instant would read 1h 9m 59s and fall every second.
            await expect(closed_due).to_have_text(re.compile(r"^1h 0m 0s \(paused until .+\)$"))
            await expect(open_due).to_have_text(re.compile(r"^(10m 0s|9m 59s)$"))
            await page.wait_for_timeout(3_000)
            await expect(closed_due).to_have_text(re.compile(r"^1h 0m 0s \(paused until"))
            await expect(open_due).to_have_text(re.compile(r"^9m 5[0-7]s$"))
            old_due = page.locator('#tickets tbody tr[data-ticket="t-old"] td.due')
            await expect(old_due).to_have_text(re.compile(r"^29m \d+s \(wall time\)$"))
        finally:
            await browser.close()
