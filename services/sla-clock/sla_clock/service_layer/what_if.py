"""SLA what-if over recorded history: the tickets opened in a range, their facts as sla-clock
recorded them, derived under the live policy and under a draft. Reads only; no live clock, row or
event is touched. The derivation is CPU work, so it runs off the event loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.engine import Row as ResultRow
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supportdesk_messaging.bulk import cycle_collection_paused

from ..adapters.policy_book import PolicyBook
from ..domain.clocks import TicketFacts
from ..domain.policy import Policy
from ..domain.what_if import Comparison, Tally, compare

_OPENED_IN = text(
    """
    SELECT ticket_id, facts::text AS facts FROM sla_tickets
    WHERE (facts ->> 'opened_at')::timestamptz >= :start AND (facts ->> 'opened_at')::timestamptz < :end
    ORDER BY ticket_id
    """
)


class Side(BaseModel):
    tickets: int
    met: int
    breached: int
    open: int
    attainment_percent: float | None
    first_response_mean_business_seconds: float | None
    first_response_p90_business_seconds: float | None

    @classmethod
    def of(cls, t: Tally) -> Side:
        return cls(
            tickets=t.tickets,
            met=t.met,
            breached=t.breached,
            open=t.open,
            attainment_percent=t.attainment_percent,
            first_response_mean_business_seconds=t.first_response_mean_seconds,
            first_response_p90_business_seconds=t.first_response_p90_seconds,
        )


class Row(BaseModel):
    plan: str
    priority: str
    live: Side
    draft: Side


class FlipView(BaseModel):
    ticket_id: str
    clock: str
    live: str
    draft: str


class WhatIfReport(BaseModel):
    policy: str
    live_version: str
    draft_version: str
    opened_from: datetime
    opened_to: datetime
    evaluated_at: datetime
    tickets: int
    rows: list[Row]
    flips_total: int
    flips: list[FlipView]


def _parsed(rows: Sequence[ResultRow[Any]]) -> list[tuple[str, TicketFacts]]:
    with cycle_collection_paused():
        return [(r.ticket_id, TicketFacts.from_json(json.loads(r.facts))) for r in rows]


async def tickets_opened(conn: AsyncConnection, start: datetime, end: datetime) -> list[tuple[str, TicketFacts]]:
    """The facts as JSON text, parsed off the event loop (a quarter's tickets take seconds)."""
    rows = (await conn.execute(_OPENED_IN, {"start": start, "end": end})).all()
    return await asyncio.to_thread(_parsed, rows)


def _compared(
    tickets: list[tuple[str, TicketFacts]],
    live: Callable[[TicketFacts], tuple[Policy, str]],
    draft: Callable[[TicketFacts], tuple[Policy, str]],
    now: datetime,
) -> Comparison:
    with cycle_collection_paused():
        return compare(tickets, live, draft, now)


async def what_if(
    engine: AsyncEngine,
    book: PolicyBook,
    draft: Policy,
    start: datetime,
    end: datetime,
    now: datetime,
    flips_limit: int = 200,
) -> WhatIfReport:
    """Tickets opened in [start, end) that run under the policy the draft replaces (same name).
    Live: each ticket under the version its cycle runs under (pinned when it was triaged, or moved
    by a retarget); the draft (its newest version, if it has several) replaces them all."""
    async with engine.connect() as conn:
        opened = await tickets_opened(conn, start, end)
    tickets = [(t, f) for t, f in opened if book.policy(f.policy).name == draft.name]
    used: set[str] = set()

    def live(f: TicketFacts) -> tuple[Policy, str]:
        version = book.for_ticket(f)
        used.add(version.version)
        return version, book.plan(version, f.plan)

    comparison = await asyncio.to_thread(_compared, tickets, live, lambda f: (draft, book.plan(draft, f.plan)), now)
    return WhatIfReport(
        policy=draft.name,
        live_version=", ".join(sorted(used)) or book.policy(draft.name).version,
        draft_version=draft.version,
        opened_from=start,
        opened_to=end,
        evaluated_at=now,
        tickets=comparison.tickets,
        rows=[
            Row(plan=plan, priority=priority, live=Side.of(before), draft=Side.of(after))
            for (plan, priority), (before, after) in comparison.rows.items()
        ],
        flips_total=len(comparison.flips),
        flips=[
            FlipView(ticket_id=f.ticket_id, clock=f.clock.value, live=f.live.value, draft=f.draft.value)
            for f in comparison.flips[:flips_limit]
        ],
    )
