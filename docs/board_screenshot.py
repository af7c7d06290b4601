"""Screenshots of the board's dashboard from a running `make run` stack, as a person sees it:
the demo tickets, a ticket opened after the page loaded appearing live and counting down, and a
search. Debian's chromium driven by Playwright (no browser download).

    make run                                   # in another terminal; wait for the URLs
    .venv/bin/python docs/board_screenshot.py  # writes docs/board-dashboard.png, docs/board-search.png

Ports and the key come from the same variables `make run` reads (BOARD_PORT, INTAKE_PORT,
SUPPORTDESK_DATA_DIR); flags override them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright, expect

from supportdesk_contract.clock import SystemClock

REPO = Path(__file__).resolve().parents[1]
NEW_TICKET = {  # a Town of Prairie Falls request (civicplus: 07:00-19:00 Central)
    "requester_email": "clerk@prairiefalls.example",
    "subject": "Council agenda PDFs no longer attach to meeting pages",
    "description": "Since this morning the agenda upload finishes but the meeting page shows no file.",
    "severity": 2,
}


def arguments() -> argparse.Namespace:
    data_dir = Path(os.environ.get("SUPPORTDESK_DATA_DIR", REPO / ".data"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", default=f"http://127.0.0.1:{os.environ.get('BOARD_PORT', '8006')}")
    p.add_argument("--intake", default=f"http://127.0.0.1:{os.environ.get('INTAKE_PORT', '8001')}")
    p.add_argument("--key-file", type=Path, default=data_dir / "dev-api-key")
    p.add_argument("--out", type=Path, default=REPO / "docs")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument("--demo-tickets", type=int, default=8, help="rows to wait for before the new ticket")
    return p.parse_args()


async def due_text(page: Page, ticket_id: str) -> str:
    return await page.locator(f'#tickets tbody tr[data-ticket="{ticket_id}"] td.due').inner_text()


async def main() -> int:
    args = arguments()
    key = args.key_file.read_text().strip()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        try:
            await page.goto(args.board + "/")
            await page.fill("#key-input", key)
            await page.keyboard.press("Enter")
            await expect(page.locator("#live-state")).to_have_text("live", timeout=30_000)
            rows = page.locator("#tickets tbody tr")
            await expect(rows).to_have_count(args.demo_tickets, timeout=60_000)
            print(f"{await rows.count()} tickets listed when the page loaded")

            # A new ticket after the page loaded: it appears without a reload, then counts down.
            async with httpx.AsyncClient(base_url=args.intake, timeout=30) as http:
                opened = await http.post("/v1/tickets", json=NEW_TICKET)
                opened.raise_for_status()
            ticket_id = opened.json()["ticket_id"]
            new_row = page.locator(f'#tickets tbody tr[data-ticket="{ticket_id}"]')
            await expect(new_row).to_be_visible(timeout=60_000)
            await expect(new_row.locator("td.due")).not_to_have_text("no running clock", timeout=60_000)
            first = await due_text(page, ticket_id)
            await page.wait_for_timeout(3_000)
            second = await due_text(page, ticket_id)
            print(f"new ticket {opened.json()['number']} ({SystemClock().now():%H:%M:%S} UTC): {first!r} -> {second!r}")
            await new_row.focus()  # the focus ring marks the new row in the screenshot
            await page.screenshot(path=str(args.out / "board-dashboard.png"), full_page=True)

            await page.fill("#f-q", "portal")
            async with page.expect_response(lambda r: "/v1/board/tickets?" in r.url and "q=portal" in r.url):
                await page.click("#filters button[type=submit]")
            await page.wait_for_timeout(500)  # the list is redrawn from that answer
            print(f"search 'portal': {await rows.count()} tickets")
            await page.screenshot(path=str(args.out / "board-search.png"), full_page=True)
        finally:
            await browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
