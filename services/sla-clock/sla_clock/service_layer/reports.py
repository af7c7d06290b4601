"""The targets of docs/policies.md#seed-000 are "weekly averages for all issues logged": the weekly report.

For the tickets logged (first cycle opened) in an ISO week, counted in the policy's own time zone:
per plan x priority, how many, the average first response and resolution in business hours (of
clocks that have stopped), and the share of stopped clocks that met their target.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk_calendar.calendar import EARLIEST, LATEST

from ..domain.policy import Policy

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def week_bounds(week: str, policy: Policy) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00, local to the policy's calendar."""
    m = _WEEK.match(week)
    if m is None:
        raise ValueError(f"{week!r} is not an ISO week like 2026-W48")
    try:
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError as e:
        raise ValueError(f"{week!r}: {e}") from None
    # Dates, with a day of slack for the zone's offset: no arithmetic near year 1 or 9999 overflows.
    if not EARLIEST.date() + timedelta(days=1) <= monday <= LATEST.date() - timedelta(days=8):
        raise ValueError(f"{week!r} is outside the supported range {EARLIEST.year}-{LATEST.year}")
    zone = policy.calendar.zone
    start = datetime.combine(monday, time(0), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone)
    return start, end


class ReportRow(BaseModel):
    plan: str | None
    priority: str | None
    tickets: int
    first_response_avg_business_hours: float | None
    first_response_met_percent: float | None
    resolution_avg_business_hours: float | None
    resolution_met_percent: float | None


_QUERY = text("""
    WITH logged AS (
        SELECT ticket_id FROM clocks
        WHERE clock = 'first_response' AND cycle = 1 AND policy_version LIKE :policy
          AND started_at >= :start AND started_at < :end
    )
    SELECT c.plan, c.priority,
           count(DISTINCT c.ticket_id) AS tickets,
           avg(c.elapsed_business_seconds) FILTER (WHERE c.clock = 'first_response' AND c.state = 'stopped')
               / 3600.0 AS fr_avg,
           100.0 * count(*) FILTER (WHERE c.clock = 'first_response' AND c.met)
               / nullif(count(*) FILTER (WHERE c.clock = 'first_response' AND c.met IS NOT NULL), 0) AS fr_met,
           avg(c.elapsed_business_seconds) FILTER (WHERE c.clock = 'resolution' AND c.state = 'stopped')
               / 3600.0 AS res_avg,
           100.0 * count(*) FILTER (WHERE c.clock = 'resolution' AND c.met)
               / nullif(count(*) FILTER (WHERE c.clock = 'resolution' AND c.met IS NOT NULL), 0) AS res_met
    FROM clocks c JOIN logged USING (ticket_id)
    WHERE c.clock IN ('first_response', 'resolution')
    GROUP BY c.plan, c.priority
    ORDER BY c.plan, c.priority
""")


async def weekly_report(engine: AsyncEngine, policy: Policy, week: str) -> list[ReportRow]:
    start, end = week_bounds(week, policy)
    async with engine.connect() as conn:
        rows = (await conn.execute(_QUERY, {"policy": f"{policy.name}@%", "start": start, "end": end})).all()

    def r(v: float | None) -> float | None:
        return None if v is None else round(float(v), 2)

    return [
        ReportRow(
            plan=row.plan,
            priority=row.priority,
            tickets=row.tickets,
            first_response_avg_business_hours=r(row.fr_avg),
            first_response_met_percent=r(row.fr_met),
            resolution_avg_business_hours=r(row.res_avg),
            resolution_met_percent=r(row.res_met),
        )
        for row in rows
    ]
